namespace ImageTools.Core.Containers;

/// <summary>
/// The file a container writer lays its structures into: positioned writes and reads of what it wrote. The
/// copy engine's DEST file (written under a temporary name and renamed when complete) implements it, so a
/// writer never knows about temporary names, Ctrl-C or renames.
/// </summary>
public interface IContainerFile
{
    /// <summary>How to name the file in messages.</summary>
    string Name { get; }

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Reads back what was written (zeros where nothing was); returns the bytes read.</summary>
    int Read(long offset, Span<byte> buffer);
}
