using ImageTools.Core.Containers.Qcow2;
using ImageTools.Core.Platform;
using ImageTools.Core.Streams;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Containers;

/// <summary>
/// Recognises a virtual-disk container by its content (as compressed input is recognised by its magic) and opens
/// the disk inside it. A file that is no container is a raw disk.
/// </summary>
public static class ContainerOpener
{
    /// <summary>Bytes <see cref="Detect"/> looks at.</summary>
    public const int ProbeLength = 8;

    /// <summary>The container whose signature <paramref name="header"/> (the file's first bytes) carries, or Raw.</summary>
    public static ContainerFormat Detect(ReadOnlySpan<byte> header) =>
        Qcow2DiskSource.IsQcow2(header) ? ContainerFormat.Qcow2 : ContainerFormat.Raw;

    /// <summary>
    /// When the regular file <paramref name="path"/> (open as <paramref name="handle"/>, which stays the caller's) is a
    /// container, returns a source over its virtual disk, opened on a handle of its own; otherwise null.
    /// </summary>
    public static VirtualDiskSource? TryOpen(string path, SafeFileHandle handle, IPlatformIo? platform = null)
    {
        Span<byte> header = stackalloc byte[ProbeLength];
        var n = RandomAccess.GetLength(handle) >= ProbeLength ? RandomAccess.Read(handle, header, 0) : 0;
        if (Detect(header[..n]) == ContainerFormat.Raw)
        {
            return null;
        }
        return Open(path, null, 0, platform);
    }

    /// <summary>
    /// Opens <paramref name="path"/> as a virtual disk: a container by content, or raw. <paramref name="declaredFormat"/>
    /// is what a qcow2 names as its backing file's format ("raw" stops a raw file that happens to start with a
    /// container's magic from being read as one, as qemu does).
    /// </summary>
    public static DataSource OpenAny(string path, string? declaredFormat, int depth, IPlatformIo? platform = null)
    {
        if (declaredFormat is "raw")
        {
            return FileDataSource.Open(path, platform);
        }
        return Open(path, declaredFormat, depth, platform) ?? (DataSource)FileDataSource.Open(path, platform);
    }

    private static VirtualDiskSource? Open(string path, string? declaredFormat, int depth, IPlatformIo? platform)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot open {path}: {e.Message}", e) { Path = path };
        }
        Span<byte> header = stackalloc byte[ProbeLength];
        var n = RandomAccess.GetLength(handle) >= ProbeLength ? RandomAccess.Read(handle, header, 0) : 0;
        var format = Detect(header[..n]);
        if (declaredFormat != null && declaredFormat != ContainerFormats.NameOf(format))
        {
            handle.Dispose();
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{path} is named as a {declaredFormat} backing file, but its content is {ContainerFormats.NameOf(format)}") { Path = path };
        }
        switch (format)
        {
            case ContainerFormat.Qcow2:
                return Qcow2DiskSource.Open(path, handle, (backing, fmt, d) => OpenAny(backing, fmt, d, platform), depth);
            default:
                handle.Dispose();
                return null;
        }
    }
}
