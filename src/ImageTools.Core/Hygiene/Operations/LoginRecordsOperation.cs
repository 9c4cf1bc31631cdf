using System.Text.RegularExpressions;

namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// login-records: who logged in, from where and when. utmp, wtmp, btmp, lastlog and faillog are emptied
/// (login, last and lastlog expect the files to exist; an empty one is a valid empty record), their rotated
/// copies (wtmp.1, btmp.1.gz...) removed, and the SQLite forms newer distributions use (wtmpdb, lastlog2)
/// emptied (an empty file is an empty database to SQLite).
/// </summary>
public sealed partial class LoginRecordsOperation : ScrubOperation
{
    public override string Name => "login-records";

    public override string Description => "empty utmp, wtmp, btmp, lastlog and faillog (and remove their rotated copies)";

    private static readonly string[] Emptied =
    [
        "/var/run/utmp", "/run/utmp", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/faillog",
        "/var/lib/wtmpdb/wtmp.db", "/var/lib/lastlog/lastlog2.db",
    ];

    [GeneratedRegex(@"^/var/log/(wtmp|btmp|lastlog|faillog)([.-].+)$")]
    private static partial Regex Rotated();

    [GeneratedRegex(@"^/var/log/(wtmp|btmp|lastlog|faillog)([.-].+)?$")]
    private static partial Regex AnyLoginRecord();

    /// <summary>Whether a path under /var/log is a login record (left to this operation by the logs operation).</summary>
    public static bool IsLoginRecord(string path) => AnyLoginRecord().IsMatch(path);

    public override void Run(ScrubContext context)
    {
        foreach (var path in Emptied)
        {
            context.Empty(path);
        }
        foreach (var (path, inode) in context.List("/var/log"))
        {
            if (!inode.IsDirectory && Rotated().IsMatch(path))
            {
                context.Remove(path);
            }
        }
    }
}
