using System.Text;

namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// passwords: every password hash in /etc/shadow is replaced by the lock marker (and the accounts named),
/// and the same in /etc/gshadow, /etc/passwd and their backups (shadow-, gshadow-, passwd-, which the
/// shadow tools leave with the previous hashes); /etc/security/opasswd (old hashes kept by pam_pwhistory)
/// is emptied. Files are rewritten in place: owner, mode and xattrs (an SELinux label) stay. See
/// <see cref="AccountFiles"/> for the rules.
/// </summary>
public sealed class PasswordsOperation : ScrubOperation
{
    public override string Name => "passwords";

    public override string Description => "lock every password hash in /etc/shadow, /etc/gshadow, /etc/passwd and their backups (the hash is replaced by '!'); empty /etc/security/opasswd";

    /// <summary>Longest account file read (a real one is a few KiB).</summary>
    private const long Limit = 16L * 1024 * 1024;

    public override void Run(ScrubContext context)
    {
        var shadowAccounts = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in new[] { "/etc/shadow", "/etc/shadow-" })
        {
            if (context.OwnedFile(path) is { } file)
            {
                shadowAccounts.UnionWith(AccountFiles.AccountNames(context.ReadAll(file.Inode, Limit)));
            }
        }
        var any = false;
        var done = new HashSet<uint>();
        foreach (var (path, kind) in new[]
        {
            ("/etc/shadow", AccountFileKind.Shadow), ("/etc/shadow-", AccountFileKind.Shadow),
            ("/etc/gshadow", AccountFileKind.GroupShadow), ("/etc/gshadow-", AccountFileKind.GroupShadow),
            ("/etc/passwd", AccountFileKind.Passwd), ("/etc/passwd-", AccountFileKind.Passwd),
        })
        {
            // A link (/etc/shadow -> ../var/lib/shadow.real) is followed inside the image: the hashes are in its target.
            if (context.OwnedFile(path) is not { } file || !done.Add(file.Inode.Number))
            {
                continue;
            }
            any = true;
            var (content, changed) = AccountFiles.Lock(context.ReadAll(file.Inode, Limit), kind, shadowAccounts);
            if (changed.Count == 0)
            {
                continue;
            }
            context.Editor.Rewrite(file.Path, content);
            var what = string.Join(", ", changed.Select(c => $"{c.Name} ({c.Before} -> {c.After})"));
            var through = file.Path == path ? "" : $" (the target of the link {path})";
            context.Report(ScrubAction.Rewritten, file.Path, $"{(kind == AccountFileKind.GroupShadow ? "groups" : "accounts")} locked{through}: {what}");
        }
        if (context.EmptyOwned("/etc/security/opasswd"))
        {
            any = true;
        }
        if (!any)
        {
            context.Note("no /etc/shadow, /etc/gshadow or /etc/passwd in this filesystem");
        }
    }
}
