namespace ImageTools.SparseCopy;

/// <summary>What sparsecopy was asked to do. New modes (--list, --partition, --create-bmap...) add a member.</summary>
public enum Mode
{
    /// <summary>Copy SOURCE to DEST (the default).</summary>
    Copy,
    /// <summary>Print the usage (<c>-h</c>).</summary>
    Help,
    /// <summary>Print the version (<c>--version</c>): the package version, as fsmaker prints it.</summary>
    Version,
    /// <summary>Print IMAGE's partition table (<c>--list</c>), like <c>sfdisk -l</c>, or as JSON.</summary>
    List,
    /// <summary>Write IMAGE's block map in bmaptool's format (<c>--create-bmap FILE</c>).</summary>
    CreateBmap,
}

/// <summary>
/// The parsed command line: every option as a typed value, sizes already in bytes. It is the only thing a
/// mode's runner sees, so a mode can be added without touching the parser's users: add options in
/// <see cref="CommandLine"/>, a field here, a <see cref="Mode"/> and a runner.
/// </summary>
public sealed record SparseCopyArguments
{
    public Mode Mode { get; init; } = Mode.Copy;

    /// <summary>Positional arguments as given (SOURCE DEST for a copy, IMAGE for --list and --create-bmap).</summary>
    public IReadOnlyList<string> Paths { get; init; } = Array.Empty<string>();

    public string Source => Paths[0];

    public string Destination => Paths[1];

    /// <summary>The one path of --list and --create-bmap.</summary>
    public string Image => Paths[0];

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

    /// <summary>True when -b was given (--create-bmap then maps in its blocks instead of bmaptool's 4096 bytes).</summary>
    public bool BlockSizeGiven { get; init; }

    // Partition tables and block maps.
    /// <summary>--partition N: copy only partition N of SOURCE.</summary>
    public int? SourcePartition { get; init; }

    /// <summary>--to-partition N: write SOURCE into partition N of an existing DEST.</summary>
    public int? DestinationPartition { get; init; }

    /// <summary>--grow: extend DEST's last partition to DEST's end after a whole-disk copy.</summary>
    public bool Grow { get; init; }

    /// <summary>--create-bmap FILE: where to write IMAGE's block map.</summary>
    public string? CreateBmapPath { get; init; }

    /// <summary>--bmap FILE: copy only the ranges this block map lists, checking their checksums.</summary>
    public string? BmapPath { get; init; }

    /// <summary>-O FORMAT: the container DEST is written as.</summary>
    public Core.Containers.ContainerFormat OutputFormat { get; init; } = Core.Containers.ContainerFormat.Raw;

    /// <summary>--compress[=zstd]: compressed clusters in a qcow2 DEST.</summary>
    public Core.Containers.ClusterCompression OutputCompression { get; init; } = Core.Containers.ClusterCompression.None;

    /// <summary>"auto" (default), "readback" (always v0.10's read-back), set by --blank-check.</summary>
    public Core.Sparse.BlankCheckMode BlankCheck { get; init; } = Core.Sparse.BlankCheckMode.Auto;
}
