namespace ImageTools.Core.Hygiene;

/// <summary>What a scrub did (or, in a dry run, would do) to one thing.</summary>
public enum ScrubAction
{
    /// <summary>A file, link or directory tree was removed.</summary>
    Removed,
    /// <summary>A file was emptied (kept, with its owner and mode).</summary>
    Emptied,
    /// <summary>A file's content was replaced (kept, with its owner, mode and xattrs).</summary>
    Rewritten,
    /// <summary>A file, directory or link was created.</summary>
    Created,
    /// <summary>Blocks were zeroed (the journal's old transactions).</summary>
    Zeroed,
    /// <summary>Nothing changed, but something is worth saying (e.g. an item was already clean).</summary>
    Note,
}

/// <summary>One change of a scrub.</summary>
/// <param name="Operation">The operation's name ("passwords", "logs"...).</param>
/// <param name="Action">What was done.</param>
/// <param name="Path">The path inside the filesystem (empty when the change is not about one path).</param>
/// <param name="Detail">More words: the accounts locked, the bytes freed, why.</param>
public sealed record ScrubChange(string Operation, ScrubAction Action, string Path, string Detail = "")
{
    /// <summary>The change as a line ("logs: emptied /var/log/syslog (12.0 KiB)"), or with "would" in a dry run.</summary>
    public string Describe(bool dryRun)
    {
        var verb = (Action, dryRun) switch
        {
            (ScrubAction.Removed, false) => "removed",
            (ScrubAction.Removed, true) => "would remove",
            (ScrubAction.Emptied, false) => "emptied",
            (ScrubAction.Emptied, true) => "would empty",
            (ScrubAction.Rewritten, false) => "rewrote",
            (ScrubAction.Rewritten, true) => "would rewrite",
            (ScrubAction.Created, false) => "created",
            (ScrubAction.Created, true) => "would create",
            (ScrubAction.Zeroed, false) => "zeroed",
            (ScrubAction.Zeroed, true) => "would zero",
            _ => "",
        };
        var text = Action == ScrubAction.Note ? Detail : $"{verb} {Path}{(Detail.Length > 0 ? $" ({Detail})" : "")}".Trim();
        return $"{Operation}: {text}";
    }
}

/// <summary>The outcome of a scrub.</summary>
public sealed record ScrubReport
{
    /// <summary>"disk.img partition 1".</summary>
    public required string Image { get; init; }

    /// <summary>ext2, ext3 or ext4.</summary>
    public required string FilesystemType { get; init; }

    /// <summary>Whether this was a dry run (nothing written).</summary>
    public required bool DryRun { get; init; }

    /// <summary>The operations that ran, in order.</summary>
    public required IReadOnlyList<string> Operations { get; init; }

    /// <summary>Every change, in the order made.</summary>
    public required IReadOnlyList<ScrubChange> Changes { get; init; }

    /// <summary>Notes from the editor (e.g. an htree index dropped), and about a recovered earlier run.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>Filesystem blocks freed (each zeroed).</summary>
    public required ulong BlocksFreed { get; init; }

    /// <summary>Bytes of the image that were (or would be) zeroed: freed blocks and journal history.</summary>
    public required long BytesZeroed { get; init; }

    /// <summary>Bytes of the image that were (or would be) written: metadata and new content.</summary>
    public required long BytesWritten { get; init; }

    public required int BlockSize { get; init; }

    /// <summary>Whether anything changed (or would).</summary>
    public bool Changed => Changes.Any(c => c.Action != ScrubAction.Note);
}
