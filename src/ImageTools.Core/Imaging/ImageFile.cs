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
        // fstat gives a block device no size, so FileStream.Length is 0; the platform asks the device (BLKGETSIZE64).
        if (file.Length == 0 && PlatformIo.Current.GetIdentity(file.SafeFileHandle).Kind == FileKind.BlockDevice)
        {
            return new DeviceStream(file, PlatformIo.Current.GetBlockDeviceSize(file.SafeFileHandle));
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
