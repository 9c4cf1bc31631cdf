using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Imaging;

namespace ImageTools.Core.Hygiene;

/// <summary>
/// fsmaker's <c>--scrub</c> and <c>--first-boot</c> while building a disk (<c>fsmaker ROOTIMAGE OUTPUTIMAGE</c>):
/// the same scrub as <c>fsmaker scrub</c> (<see cref="Scrubber"/>: the selected operations, then the first-boot
/// script), run as a root step of <see cref="BootableDiskBuilder"/> on the root filesystem inside the new disk.
/// The user's ROOTIMAGE is never touched. No redo log is needed: the disk is a temporary file until the build is
/// complete, and a build that fails (a scrub that fails included) removes it, so no output exists at all.
/// </summary>
public sealed class ScrubRootStep : IRootFilesystemStep
{
    private readonly ScrubOptions _options;
    private readonly IReadOnlyList<ScrubOperation> _operations;

    /// <param name="options">
    /// What to do. <see cref="ScrubOptions.Operations"/> null means the defaults (<c>--scrub</c>); an empty list with
    /// <see cref="ScrubOptions.FirstBoot"/> set installs only the first-boot script (<c>--first-boot</c> alone).
    /// <see cref="ScrubOptions.DryRun"/>, <see cref="ScrubOptions.RedoLogPath"/> and <see cref="ScrubOptions.Now"/> are
    /// ignored: a build always writes, needs no log, and takes its time from SOURCE_DATE_EPOCH or the clock.
    /// </param>
    public ScrubRootStep(ScrubOptions options)
    {
        _operations = options.Operations ?? OperationSelection.Parse(null, options.RemovePaths.Count > 0);
        if (_operations.Count == 0 && options.FirstBoot == null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the scrub step has nothing to do: no operation selected and no first-boot script asked for");
        }
        options.FirstBoot?.Validate();
        foreach (var pattern in options.RemovePaths)
        {
            PathPattern.Parse(pattern);
        }
        _options = options with { DryRun = false, RedoLogPath = null, Now = null, OnCommitProgress = null };
    }

    /// <summary>The operations that run, in order (first-boot installation not included).</summary>
    public IReadOnlyList<ScrubOperation> Operations => _operations;

    public string Description => (_operations.Count > 0, _options.FirstBoot != null) switch
    {
        (true, true) => $"scrub ({string.Join(", ", _operations.Select(o => o.Name))}) and first-boot script",
        (true, false) => $"scrub ({string.Join(", ", _operations.Select(o => o.Name))})",
        _ => "first-boot script",
    };

    /// <summary>The last run's full report (for callers that want more than the summary lines).</summary>
    public ScrubReport? Report { get; private set; }

    public IReadOnlyList<string> Run(RootFilesystemContext context)
    {
        var now = context.SourceDateEpoch is long epoch ? DateTimeOffset.FromUnixTimeSeconds(epoch) : DateTimeOffset.UtcNow;
        var options = _options with { Now = now };
        using var image = EditableImage.OverNewImage(context.Disk, context.PartitionOffset, context.Partition.Length, context.Name);
        using var view = image.OpenReadView();
        using var editor = ExtEditor.Open(view, context.Name, new ExtEditorOptions { Now = now, FindNextData = image.FindNextData });
        context.Cancellation.ThrowIfCancellationRequested();
        var report = Scrubber.Scrub(image, editor, _operations, options);
        Report = report;
        var lines = report.Changes.Select(c => c.Describe(dryRun: false)).ToList();
        lines.AddRange(report.Notes.Select(n => "note: " + n));
        var changes = report.Changes.Count(c => c.Action != ScrubAction.Note);
        lines.Add(changes == 0
            ? "nothing to change: already clean"
            : $"{changes} change{(changes == 1 ? "" : "s")}, {ScrubContext.Size(report.BlocksFreed * (ulong)report.BlockSize)} freed, "
              + $"{ScrubContext.Size((ulong)report.BytesZeroed)} zeroed, {ScrubContext.Size((ulong)report.BytesWritten)} written");
        return lines;
    }
}
