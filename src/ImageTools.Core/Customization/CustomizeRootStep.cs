using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Imaging;

namespace ImageTools.Core.Customization;

/// <summary>
/// fsmaker's <c>--customize-...</c> and <c>--customize FILE</c> while building a disk: the operations of
/// <c>fsmaker customize</c> (<see cref="Customizer"/>), in order, as a root step of <see cref="BootableDiskBuilder"/>
/// on the root filesystem inside the new disk (before the scrub step, so that a scrub also cleans up after it).
/// The user's ROOTIMAGE is never touched, and no redo log is needed: a build that fails removes the whole disk.
/// </summary>
public sealed class CustomizeRootStep : IRootFilesystemStep
{
    private readonly IReadOnlyList<CustomizeOperation> _operations;
    private readonly string? _owner;

    public CustomizeRootStep(IReadOnlyList<CustomizeOperation> operations, string? owner = null)
    {
        if (operations.Count == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the customize step has nothing to do: no operation given");
        }
        _operations = operations;
        _owner = owner;
    }

    public IReadOnlyList<CustomizeOperation> Operations => _operations;

    public string Description => $"customize ({string.Join(", ", _operations.Select(o => o.Name))})";

    public CustomizeReport? Report { get; private set; }

    public IReadOnlyList<string> Run(RootFilesystemContext context)
    {
        var now = context.SourceDateEpoch is long epoch ? DateTimeOffset.FromUnixTimeSeconds(epoch) : DateTimeOffset.UtcNow;
        using var image = EditableImage.OverNewImage(context.Disk, context.PartitionOffset, context.Partition.Length, context.Name);
        using var view = image.OpenReadView();
        using var editor = ExtEditor.Open(view, context.Name, new ExtEditorOptions { Now = now, FindNextData = image.FindNextData });
        context.Cancellation.ThrowIfCancellationRequested();
        var report = Customizer.Customize(image, editor, _operations, new CustomizeOptions { Now = now, Owner = _owner });
        Report = report;
        var lines = report.Changes.Select(c => c.Describe(dryRun: false)).ToList();
        lines.AddRange(report.Notes.Select(n => "note: " + n));
        lines.Add($"{_operations.Count} operation{(_operations.Count == 1 ? "" : "s")}, {CustomizeContext.Size(report.BytesWritten)} written");
        return lines;
    }
}
