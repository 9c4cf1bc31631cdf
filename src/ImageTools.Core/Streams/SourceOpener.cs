using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Streams;

/// <summary>A source ready to copy, with what was learnt while opening it.</summary>
/// <param name="Source">The bytes to copy (decompressed when the input was compressed).</param>
/// <param name="Format">The compression recognised on the input (None when copied raw).</param>
/// <param name="Identity">What the input path (or stdin) is, for the same-file check.</param>
public sealed record OpenedSource(DataSource Source, CompressionFormat Format, FileIdentity Identity) : IDisposable
{
    /// <summary>
    /// Opens a new seekable, read-only stream over the same bytes as <see cref="Source"/> (decompressed, for
    /// compressed input), independent of it: how a partition table or a block map is read before or beside the
    /// copy. Null when the input cannot be read twice (a pipe).
    /// </summary>
    public Func<Stream>? OpenRandomAccess { get; init; }

    public void Dispose() => Source.Dispose();
}

/// <summary>
/// Opens a path (or "-" for stdin) as a <see cref="DataSource"/>: regular files and block devices with
/// random access (and data ranges for files), pipes and character devices as streams, and compressed
/// input of any kind in <see cref="CompressionFormat"/> unpacked on the fly when its magic is seen.
/// </summary>
public static class SourceOpener
{
    /// <summary>The name that stands for standard input.</summary>
    public const string StdinName = "-";

    /// <param name="path">A file, a device, or "-".</param>
    /// <param name="decompress">Unpack recognised compressed input (false: copy the raw bytes).</param>
    /// <param name="stdin">Opens standard input (tests pass their own).</param>
    /// <param name="platform">OS access (default: the running OS).</param>
    public static OpenedSource Open(string path, bool decompress, Func<Stream>? stdin = null, IPlatformIo? platform = null)
    {
        platform ??= PlatformIo.Current;
        if (path == StdinName)
        {
            return OpenStdin(decompress, stdin, platform);
        }
        var identity = platform.Identify(path, ErrorKind.SourceUnreadable, "SOURCE");
        switch (identity.Kind)
        {
            case FileKind.Missing:
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot open SOURCE {path}: no such file or device") { Path = path };
            case FileKind.Directory:
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"SOURCE {path} is a directory; give a file, a device or - (stdin)") { Path = path };
            case FileKind.RegularFile:
            case FileKind.BlockDevice:
                return OpenRandomAccess(path, identity, decompress, platform);
            default:
                // Pipes (named FIFOs), character devices (/dev/null, /dev/zero), sockets: read front to back.
                Stream stream;
                try
                {
                    stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot open SOURCE {path}: {e.Message}", e) { Path = path };
                }
                return OpenStream(path, stream, identity, decompress);
        }
    }

    private static OpenedSource OpenRandomAccess(string path, FileIdentity identity, bool decompress, IPlatformIo platform)
    {
        FileDataSource file;
        try
        {
            file = FileDataSource.Open(path, platform);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot open SOURCE {path}: {e.Message}", e) { Path = path };
        }
        Stream OpenRaw(int bufferSize) => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize);
        if (!decompress)
        {
            return new OpenedSource(file, CompressionFormat.None, identity) { OpenRandomAccess = () => OpenRaw(4096) };
        }
        Span<byte> header = stackalloc byte[Compression.MagicLength];
        var n = file.Length > 0 ? RandomAccess.Read(file.Handle, header, 0) : 0;
        var format = Compression.Detect(header[..n]);
        if (format == CompressionFormat.None)
        {
            return new OpenedSource(file, format, identity) { OpenRandomAccess = () => OpenRaw(4096) };
        }
        // A compressed file is read front to back through the decompressor; no data ranges inside it.
        file.Dispose();
        var raw = OpenRaw(1 << 20);
        return Decompressed(path, raw, format, identity) with
        {
            OpenRandomAccess = () => new ReopeningStream(() => Compression.OpenDecompressor(OpenRaw(1 << 16), format), $"{path} ({Compression.NameOf(format)})"),
        };
    }

    private static OpenedSource OpenStdin(bool decompress, Func<Stream>? stdin, IPlatformIo platform)
    {
        if (stdin == null)
        {
            // Standard input redirected from a regular file (< disk.img) still has data ranges worth using.
            var handle = new SafeFileHandle(0, ownsHandle: false);
            var identity = platform.GetIdentity(handle);
            if (identity.Kind == FileKind.RegularFile)
            {
                var length = RandomAccess.GetLength(handle);
                var file = new FileDataSource("stdin", handle, FileKind.RegularFile, length, ownsHandle: false, platform);
                Span<byte> header = stackalloc byte[Compression.MagicLength];
                var n = length > 0 ? RandomAccess.Read(handle, header, 0) : 0;
                var format = decompress ? Compression.Detect(header[..n]) : CompressionFormat.None;
                // Reads through the same descriptor use pread at their own positions, so a second view is safe.
                Stream OpenRaw(int bufferSize) => new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize) { Position = 0 };
                if (format == CompressionFormat.None)
                {
                    return new OpenedSource(file, format, identity) { OpenRandomAccess = () => OpenRaw(4096) };
                }
                return Decompressed("stdin", OpenRaw(1 << 20), format, identity) with
                {
                    OpenRandomAccess = () => new ReopeningStream(() => Compression.OpenDecompressor(OpenRaw(1 << 16), format), $"stdin ({Compression.NameOf(format)})"),
                };
            }
            return OpenStream("stdin", new FileStream(handle, FileAccess.Read, 0), identity, decompress);
        }
        return OpenStream("stdin", stdin(), new FileIdentity(FileKind.Pipe, default, 0, default, 0, 0, 0), decompress);
    }

    private static OpenedSource OpenStream(string name, Stream stream, FileIdentity identity, bool decompress)
    {
        if (!decompress)
        {
            return new OpenedSource(new StreamDataSource(name, stream), CompressionFormat.None, identity);
        }
        // Sniff the magic, then replay it in front of the rest of the stream.
        var header = new byte[Compression.MagicLength];
        int n;
        try
        {
            n = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot read {name}: {e.Message}", e) { Path = name };
        }
        var format = Compression.Detect(header.AsSpan(0, n));
        var replay = new PrefixedStream(header.AsSpan(0, n), stream);
        return format == CompressionFormat.None
            ? new OpenedSource(new StreamDataSource(name, replay), format, identity)
            : Decompressed(name, replay, format, identity);
    }

    private static OpenedSource Decompressed(string name, Stream raw, CompressionFormat format, FileIdentity identity)
    {
        var counting = new CountingStream(raw);
        var unpacked = Compression.OpenDecompressor(counting, format);
        var source = new StreamDataSource($"{name} ({Compression.NameOf(format)})", unpacked, rawBytesRead: () => counting.BytesRead);
        return new OpenedSource(source, format, identity);
    }
}
