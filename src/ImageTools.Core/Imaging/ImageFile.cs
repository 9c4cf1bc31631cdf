using ImageTools.Core.Streams;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Opens an image for reading: a regular file, or a block device (whose size a plain FileStream
/// reports as 0) with its real size. Errors name the path.
/// </summary>
public static class ImageFile
{
    public static Stream OpenRead(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var kind = e is FileNotFoundException or DirectoryNotFoundException ? ErrorKind.NotFound : ErrorKind.SourceUnreadable;
            throw new ImageToolsException(kind, $"{path}: cannot open it: {e.Message}", e) { Path = path };
        }
        if (file.Length == 0 && DeviceLength.Of(file.SafeFileHandle) is long size)
        {
            return new DeviceStream(file, size);
        }
        return file;
    }

    /// <summary>A read-only view of a device with its real length; reads past it end the stream.</summary>
    private sealed class DeviceStream(FileStream device, long length) : PositionalReadStream
    {
        public override long Length => length;

        protected override int ReadAt(long position, Span<byte> buffer) => RandomAccess.Read(device.SafeFileHandle, buffer, position);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                device.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
