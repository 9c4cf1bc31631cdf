using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Customization;

/// <summary>
/// Customizes an ext2/3/4 filesystem image (or one partition of a disk image) in place, as virt-customize does
/// but offline and without an appliance: the operations run in the order given, all as ONE edit planned in
/// memory (<see cref="ExtEditor"/> over a copy-on-write overlay) and committed crash-safely through a redo log
/// (<see cref="EditableImage"/>). If any operation fails (a missing user, a bad path, no space left), nothing has
/// been written and the image is byte-identical to before. A dry run plans the same edit and writes nothing.
/// </summary>
public static class Customizer
{
    public static CustomizeReport Customize(string specification, IReadOnlyList<CustomizeOperation> operations, CustomizeOptions options)
    {
        if (operations.Count == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "nothing to do: no customize operation given");
        }
        using var image = EditableImage.Open(specification, new EditableImageOptions { RedoLogPath = options.RedoLogPath });
        using var view = image.OpenReadView();
        using var editor = ExtEditor.Open(view, image.Description, new ExtEditorOptions { Now = options.Now, FindNextData = image.FindNextData });
        return Customize(image, editor, operations, options);
    }

    /// <summary>The customization proper, over an editor the caller opened (the build uses it on the disk it makes).</summary>
    public static CustomizeReport Customize(EditableImage image, ExtEditor editor, IReadOnlyList<CustomizeOperation> operations, CustomizeOptions options)
    {
        var context = new CustomizeContext(editor, options);
        var reported = 0;
        for (var i = 0; i < operations.Count; i++)
        {
            var operation = operations[i];
            context.Operation = operation.Name;
            try
            {
                operation.Run(context);
            }
            catch (ImageToolsException e)
            {
                // Say which operation failed (never with its argument: it may be a password), and that nothing changed.
                throw new ImageToolsException(e.Kind,
                    $"operation {i + 1} of {operations.Count} ({operation.Name}): {e.Message}; {(options.DryRun ? "this was a dry run" : "nothing was written, the image is as it was")}", e) { Path = e.Path };
            }
            for (; reported < context.Changes.Count; reported++)
            {
                options.OnChange?.Invoke(context.Changes[reported]);
            }
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
        return new CustomizeReport
        {
            Image = image.Description,
            FilesystemType = ExtFeatureSupport.NameOf(editor.FileSystem.Kind),
            DryRun = options.DryRun,
            Changes = context.Changes,
            Notes = notes,
            BytesWritten = changes.BytesWritten,
            BytesZeroed = changes.BytesZeroed,
        };
    }
}
