namespace ImageTools.Core.Customization;

/// <summary>How a customization runs (the operations themselves are a list of <see cref="CustomizeOperation"/>).</summary>
public sealed record CustomizeOptions
{
    /// <summary>Plan and report everything, write nothing (not even the redo log).</summary>
    public bool DryRun { get; init; }

    /// <summary>Owner of what copy-in makes: "USER[:GROUP]" or "UID:GID", names looked up in the image; null: root.</summary>
    public string? Owner { get; init; }

    /// <summary>The time stamped on what changes; null: now.</summary>
    public DateTimeOffset? Now { get; init; }

    /// <summary>Where the redo log goes (null: beside the image).</summary>
    public string? RedoLogPath { get; init; }

    /// <summary>Progress of the commit (also lets tests stop it half way).</summary>
    public Action<Ext.Editor.CommitProgress>? OnCommitProgress { get; init; }

    /// <summary>Told each change as it is planned (for live output).</summary>
    public Action<CustomizeChange>? OnChange { get; init; }
}

/// <summary>What a customization did.</summary>
public sealed record CustomizeReport
{
    public required string Image { get; init; }
    public required string FilesystemType { get; init; }
    public required bool DryRun { get; init; }
    public required IReadOnlyList<CustomizeChange> Changes { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }
    public required long BytesWritten { get; init; }
    public required long BytesZeroed { get; init; }
}
