using System.Text;

namespace ImageTools.Core.Hygiene;

/// <summary>The kind of account file, which decides what its password field may hold.</summary>
public enum AccountFileKind
{
    /// <summary>/etc/shadow: name:password:lastchange:min:max:warn:inactive:expire:reserved (shadow(5)).</summary>
    Shadow,
    /// <summary>/etc/gshadow: group:password:admins:members (gshadow(5)).</summary>
    GroupShadow,
    /// <summary>/etc/passwd: name:password:uid:gid:gecos:home:shell (passwd(5)); the password is normally "x".</summary>
    Passwd,
}

/// <summary>One account whose password field was changed.</summary>
/// <param name="Name">The account (or group) name.</param>
/// <param name="Before">What the field held, described without the secret ("a password hash", "no password").</param>
/// <param name="After">What it holds now.</param>
public sealed record LockedAccount(string Name, string Before, string After);

/// <summary>
/// Locks the passwords in passwd/shadow/gshadow text. Only the second field of each line changes; every
/// other byte (other fields, line endings, comments, a missing final newline) stays as it was.
/// <list type="bullet">
/// <item>shadow: a password hash becomes the lock marker <c>!</c> (what <c>passwd -l</c> prepends; never
/// an empty field, which would mean "no password"). A hash kept behind a lock (<c>!$6$...</c>) is removed
/// too: the image must not carry it. An empty field (no password at all) is locked as well. Fields that hold
/// only lock characters (<c>*</c>, <c>!</c>, <c>!!</c>, <c>!*</c>...) are already locked and stay.</item>
/// <item>gshadow: hashes are locked the same way; an empty field stays (there it means "members only").</item>
/// <item>passwd: a hash (or an empty field) in passwd itself becomes <c>x</c> when shadow has an entry for the
/// account (so the locked shadow entry, and later the first-boot password, is what counts), else <c>!</c>.</item>
/// </list>
/// </summary>
public static class AccountFiles
{
    /// <summary>The lock marker written in place of a hash.</summary>
    public const string LockMarker = "!";

    /// <summary>Locks the password fields of <paramref name="content"/>; returns the new text and the accounts changed.</summary>
    /// <param name="shadowAccounts">Accounts present in /etc/shadow (for the passwd rule).</param>
    public static (byte[] Content, IReadOnlyList<LockedAccount> Changed) Lock(byte[] content, AccountFileKind kind, IReadOnlySet<string>? shadowAccounts = null)
    {
        var changed = new List<LockedAccount>();
        var output = new MemoryStream(content.Length);
        var start = 0;
        while (start < content.Length)
        {
            var end = Array.IndexOf(content, (byte)'\n', start);
            var lineEnd = end < 0 ? content.Length : end;
            var line = content.AsSpan(start, lineEnd - start);
            output.Write(LockLine(line, kind, shadowAccounts, changed));
            if (end >= 0)
            {
                output.WriteByte((byte)'\n');
            }
            start = lineEnd + 1;
        }
        return (output.ToArray(), changed);
    }

    private static byte[] LockLine(ReadOnlySpan<byte> line, AccountFileKind kind, IReadOnlySet<string>? shadowAccounts, List<LockedAccount> changed)
    {
        var first = line.IndexOf((byte)':');
        if (first <= 0 || line[0] == (byte)'#' || line[0] == (byte)'+' || line[0] == (byte)'-')
        {
            // Not an account line (or an NIS +/- line): kept as it is.
            return line.ToArray();
        }
        var rest = line[(first + 1)..];
        var second = rest.IndexOf((byte)':');
        var fieldEnd = second < 0 ? rest.Length : second;
        var field = Encoding.UTF8.GetString(rest[..fieldEnd]);
        var name = Encoding.UTF8.GetString(line[..first]);
        var replacement = Replacement(field, kind, name, shadowAccounts);
        if (replacement == null)
        {
            return line.ToArray();
        }
        changed.Add(new LockedAccount(name, Describe(field), Describe(replacement)));
        var result = new List<byte>(line.Length);
        result.AddRange(line[..(first + 1)].ToArray());
        result.AddRange(Encoding.UTF8.GetBytes(replacement));
        result.AddRange(rest[fieldEnd..].ToArray());
        return result.ToArray();
    }

    /// <summary>The new field, or null to keep it.</summary>
    private static string? Replacement(string field, AccountFileKind kind, string name, IReadOnlySet<string>? shadowAccounts)
    {
        var locked = field.StartsWith('!') || field.StartsWith('*');
        var hashBehindLock = field.StartsWith('!') && field.TrimStart('!').Length > 0 && !field.TrimStart('!').StartsWith('*');
        switch (kind)
        {
            case AccountFileKind.Shadow:
                if (field.Length == 0 || !locked || hashBehindLock)
                {
                    return LockMarker;
                }
                return null;
            case AccountFileKind.GroupShadow:
                if (field.Length > 0 && (!locked || hashBehindLock))
                {
                    return LockMarker;
                }
                return null;
            default:
                if (field == "x" || (locked && !hashBehindLock))
                {
                    return null;
                }
                return shadowAccounts != null && shadowAccounts.Contains(name) ? "x" : LockMarker;
        }
    }

    /// <summary>A field in words, never its secret.</summary>
    public static string Describe(string field) => field switch
    {
        "" => "no password",
        "x" => "x (see shadow)",
        _ when field.StartsWith('!') && field.TrimStart('!').Length > 0 && !field.TrimStart('!').StartsWith('*') => "a locked password hash",
        _ when field.StartsWith('!') || field.StartsWith('*') => $"locked ({field})",
        _ => HashKind(field),
    };

    private static string HashKind(string hash)
    {
        if (!hash.StartsWith('$'))
        {
            return hash.Length == 13 ? "a DES password hash" : "a password hash";
        }
        var id = hash.Split('$', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
        return id switch
        {
            "1" => "an MD5 password hash",
            "5" => "a SHA-256 password hash",
            "6" => "a SHA-512 password hash",
            "y" => "a yescrypt password hash",
            "2a" or "2b" or "2y" => "a bcrypt password hash",
            "gy" => "a gost-yescrypt password hash",
            _ => "a password hash",
        };
    }

    /// <summary>The account names of a shadow (or passwd) file.</summary>
    public static IReadOnlySet<string> AccountNames(byte[] content)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in Encoding.UTF8.GetString(content).Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && line[0] is not ('#' or '+' or '-'))
            {
                names.Add(line[..colon]);
            }
        }
        return names;
    }

    /// <summary>The password field of one account, or null when the account is absent.</summary>
    public static string? PasswordField(byte[] content, string account)
    {
        foreach (var line in Encoding.UTF8.GetString(content).Split('\n'))
        {
            var fields = line.Split(':');
            if (fields.Length >= 2 && fields[0] == account)
            {
                return fields[1];
            }
        }
        return null;
    }
}
