namespace ImageTools.SparseCopy;

/// <summary>What sparsecopy was asked to do. New modes (--list, --partition, --create-bmap...) add a member.</summary>
public enum Mode
{
    /// <summary>Copy SOURCE to DEST (the default).</summary>
    Copy,
    /// <summary>Print the usage (<c>-h</c>).</summary>
    Help,
}

/// <summary>
/// The parsed command line: every option as a typed value, sizes already in bytes. It is the only thing a
/// mode's runner sees, so a mode can be added without touching the parser's users: add options in
/// <see cref="CommandLine"/>, a field here, a <see cref="Mode"/> and a runner.
/// </summary>
public sealed record SparseCopyArguments
{
    public Mode Mode { get; init; } = Mode.Copy;

    /// <summary>Positional arguments as given (SOURCE DEST for a copy).</summary>
    public IReadOnlyList<string> Paths { get; init; } = Array.Empty<string>();

    public string Source => Paths[0];

    public string Destination => Paths[1];

    public bool Overlay { get; init; }
    public bool NoBlankCheck { get; init; }
    public bool Quiet { get; init; }
    public long? MaxBytes { get; init; }
    public bool FailIfMore { get; init; }
    public long BlockSize { get; init; } = SizeParser.DefaultBlockSize;
    public long Seek { get; init; }
    public long? FinalSize { get; init; }
    public bool CheckFirstBlock { get; init; }
    public bool Progress { get; init; }
    public long? SyncEvery { get; init; }

    // Beyond v0.10.
    public long Skip { get; init; }
    public bool NoDecompress { get; init; }
    public bool Json { get; init; }
    public bool Verify { get; init; }

    /// <summary>"auto" (default), "readback" (always v0.10's read-back), set by --blank-check.</summary>
    public Core.Sparse.BlankCheckMode BlankCheck { get; init; } = Core.Sparse.BlankCheckMode.Auto;
}
