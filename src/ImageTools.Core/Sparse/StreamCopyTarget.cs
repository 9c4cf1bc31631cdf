namespace ImageTools.Core.Sparse;

/// <summary>
/// A DEST that can only be written front to back (stdout into a pipe, a character device): nothing can be
/// skipped, so zero runs are written as zeros and a jump forward (<c>--seek</c>) writes zeros up to it.
/// </summary>
public sealed class StreamCopyTarget : CopyTarget
{
    private static readonly byte[] Zeros = new byte[1 << 20];
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private long _position;

    public StreamCopyTarget(string name, Stream stream, bool ownsStream = false)
    {
        Name = name;
        _stream = stream;
        _ownsStream = ownsStream;
    }

    public override string Name { get; }

    public override bool CanSkip => false;

    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset < _position)
        {
            throw new InvalidOperationException($"{Name} is written front to back: offset {offset} is before {_position}");
        }
        PadTo(offset);
        _stream.Write(data);
        _position += data.Length;
    }

    public override void Finish(long endOffset, long? finalSize)
    {
        PadTo(Math.Max(endOffset, finalSize ?? 0));
        try
        {
            _stream.Flush();
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"cannot write {Name}: {e.Message}", e) { Path = Name };
        }
    }

    private void PadTo(long offset)
    {
        while (_position < offset)
        {
            var n = (int)Math.Min(Zeros.Length, offset - _position);
            _stream.Write(Zeros, 0, n);
            _position += n;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsStream)
        {
            _stream.Dispose();
        }
    }
}
