using ImageTools.Core.Containers.Qcow2;
using ImageTools.Core.Containers.Vhd;
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

    /// <summary>
    /// The container whose signature the file's first bytes (<paramref name="header"/>) or its last sector
    /// (<paramref name="lastSector"/>, where a fixed VHD keeps its footer) carry, or Raw.
    /// </summary>
    public static ContainerFormat Detect(ReadOnlySpan<byte> header, ReadOnlySpan<byte> lastSector)
    {
        if (Qcow2DiskSource.IsQcow2(header))
        {
            return ContainerFormat.Qcow2;
        }
        return VhdFooter.HasCookie(lastSector) ? ContainerFormat.VhdFixed : ContainerFormat.Raw;
    }

    private static ContainerFormat Probe(SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        Span<byte> header = stackalloc byte[ProbeLength];
        Span<byte> last = stackalloc byte[VhdFooter.Size];
        var n = length >= ProbeLength ? RandomAccess.Read(handle, header, 0) : 0;
        var m = length >= VhdFooter.Size ? RandomAccess.Read(handle, last, length - VhdFooter.Size) : 0;
        return Detect(header[..n], last[..m]);
    }

    /// <summary>
    /// When the regular file <paramref name="path"/> (open as <paramref name="handle"/>, which stays the caller's) is a
    /// container, returns a source over its virtual disk, opened on a handle of its own; otherwise null.
    /// </summary>
    public static VirtualDiskSource? TryOpen(string path, SafeFileHandle handle, IPlatformIo? platform = null) =>
        Probe(handle) == ContainerFormat.Raw ? null : Open(path, null, 0, platform);

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
        var format = Probe(handle);
        if (declaredFormat != null && declaredFormat != ContainerFormats.NameOf(format) && !(declaredFormat == "vpc" && format == ContainerFormat.VhdFixed))
        {
            handle.Dispose();
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{path} is named as a {declaredFormat} backing file, but its content is {ContainerFormats.NameOf(format)}") { Path = path };
        }
        switch (format)
        {
            case ContainerFormat.Qcow2:
                return Qcow2DiskSource.Open(path, handle, (backing, fmt, d) => OpenAny(backing, fmt, d, platform), depth);
            case ContainerFormat.VhdFixed:
                handle.Dispose();
                return VhdFixedDiskSource.Open(FileDataSource.Open(path, platform));
            default:
                handle.Dispose();
                return null;
        }
    }
}
