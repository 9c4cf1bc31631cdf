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
    private sealed class DeviceStream(FileStream device, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;

        public override long Position
        {
            get => _position;
            set
            {
                ArgumentOutOfRangeException.ThrowIfNegative(value);
                _position = value;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= length)
            {
                return 0;
            }
            var n = RandomAccess.Read(device.SafeFileHandle, buffer[..(int)Math.Min(buffer.Length, length - _position)], _position);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                SeekOrigin.End => length + offset,
                _ => throw new ArgumentOutOfRangeException(nameof(origin)),
            };
            return _position;
        }

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

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
