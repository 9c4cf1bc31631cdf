using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Hygiene.FirstBoot;

namespace ImageTools.Core.Hygiene;

/// <summary>What a scrub does.</summary>
public sealed record ScrubOptions
{
    /// <summary>The operations to run, in <see cref="ScrubOperations.All"/> order (see <see cref="OperationSelection"/>); null: the defaults.</summary>
    public IReadOnlyList<ScrubOperation>? Operations { get; init; }

    /// <summary>Paths for the remove operation (absolute, globs allowed).</summary>
    public IReadOnlyList<string> RemovePaths { get; init; } = [];

    /// <summary>Install the first-boot script with these settings (null: do not).</summary>
    public FirstBootOptions? FirstBoot { get; init; }

    /// <summary>Plan and report everything, write nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary>The time stamped on what changes; null: now.</summary>
    public DateTimeOffset? Now { get; init; }

    /// <summary>Where the redo log goes (null: beside the image).</summary>
    public string? RedoLogPath { get; init; }

    /// <summary>Progress of the commit (also lets tests stop it half way).</summary>
    public Action<CommitProgress>? OnCommitProgress { get; init; }

    /// <summary>Told each change as it is planned (for live output).</summary>
    public Action<ScrubChange>? OnChange { get; init; }
}
