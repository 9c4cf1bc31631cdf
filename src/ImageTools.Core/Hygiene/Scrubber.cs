using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Hygiene.FirstBoot;

namespace ImageTools.Core.Hygiene;

/// <summary>
/// Scrubs an ext2/3/4 filesystem image (or one partition of a disk image) in place: runs the selected
/// operations, then installs the first-boot script if asked, all as ONE edit planned in memory and committed
/// crash-safely (<see cref="EditableImage"/>): the image ends up fully scrubbed or unchanged. A dry run plans
/// the same edit and reports it without writing anything (not even the redo log).
/// </summary>
public static class Scrubber
{
    public static ScrubReport Scrub(string specification, ScrubOptions options)
    {
        var operations = options.Operations ?? OperationSelection.Parse(null, options.RemovePaths.Count > 0);
        options.FirstBoot?.Validate();
        foreach (var pattern in options.RemovePaths)
        {
            PathPattern.Parse(pattern);
        }
        using var image = EditableImage.Open(specification, new EditableImageOptions { RedoLogPath = options.RedoLogPath });
        using var view = image.OpenReadView();
        using var editor = ExtEditor.Open(view, image.Description, new ExtEditorOptions { Now = options.Now, FindNextData = image.FindNextData });
        return Scrub(image, editor, operations, options);
    }

    /// <summary>The scrub proper, over an editor the caller opened (the build pipeline uses it on the image it made).</summary>
    public static ScrubReport Scrub(EditableImage image, ExtEditor editor, IReadOnlyList<ScrubOperation> operations, ScrubOptions options)
    {
        var context = new ScrubContext(editor, options);
        var reported = 0;
        void Flush()
        {
            for (; reported < context.Changes.Count; reported++)
            {
                options.OnChange?.Invoke(context.Changes[reported]);
            }
        }
        // The first-boot files go in before the last operations that only zero (journal, free space), so
        // that whatever installing them frees is covered too.
        var zeroingLast = operations.Where(o => o is Operations.JournalOperation or Operations.FreeSpaceOperation).ToList();
        var executed = new List<string>();
        void Run(ScrubOperation operation)
        {
            context.Operation = operation.Name;
            operation.Run(context);
            executed.Add(operation.Name);
            Flush();
        }
        foreach (var operation in operations.Except(zeroingLast))
        {
            Run(operation);
        }
        if (options.FirstBoot is { } firstBoot)
        {
            FirstBootInstaller.Install(context, firstBoot);
            executed.Add("first-boot");
            Flush();
        }
        foreach (var operation in zeroingLast)
        {
            Run(operation);
        }
        var changes = editor.CollectChanges();
        var notes = new List<string>();
        if (image.RecoveryNote != null)
        {
            notes.Add(image.RecoveryNote);
        }
        notes.AddRange(editor.Notes);
        if (!options.DryRun)
        {
            image.Commit(changes, editor.FileSystem.Superblock.Uuid, options.OnCommitProgress);
        }
        return new ScrubReport
        {
            Image = image.Description,
            FilesystemType = ExtFeatureSupport.NameOf(editor.FileSystem.Kind),
            DryRun = options.DryRun,
            Operations = executed,
            Changes = context.Changes,
            Notes = notes,
            BlocksFreed = editor.BlocksFreed,
            BytesZeroed = changes.BytesZeroed,
            BytesWritten = changes.BytesWritten,
            BlockSize = editor.FileSystem.BlockSize,
        };
    }
}
