using System.Text.RegularExpressions;

namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// logs: every regular file under /var/log is handled; directories, their owners and modes stay, as do
/// links, sockets and FIFOs. Rotated and compressed logs (syslog.1, syslog.2.gz, messages-20240101,
/// *.old) and the systemd journal's files (*.journal, *.journal~) are removed: nothing writes to them again.
/// The live logs (syslog, dmesg, kern.log, auth.log, cloud-init.log...) are emptied, keeping the file, its
/// owner and mode, which daemons expect. The login records under /var/log (wtmp, btmp, lastlog, faillog)
/// belong to the login-records operation and are left to it.
/// </summary>
public sealed partial class LogsOperation : ScrubOperation
{
    public override string Name => "logs";

    public override string Description => "empty the logs under /var/log and remove rotated, compressed and journal files (directories, owners and modes kept)";

    [GeneratedRegex(@"(\.\d+(\.(gz|xz|bz2|zst|lz4|lzma|Z))?|\.(gz|xz|bz2|zst|lz4|lzma|Z|old)|-\d{8}(\.(gz|xz|bz2|zst))?|\.journal~?)$")]
    private static partial Regex RotatedOrArchived();

    public override void Run(ScrubContext context)
    {
        var seen = 0;
        foreach (var (path, inode) in context.Walk("/var/log").ToList())
        {
            if (!inode.IsRegularFile)
            {
                continue;
            }
            seen++;
            var name = path[(path.LastIndexOf('/') + 1)..];
            if (LoginRecordsOperation.IsLoginRecord(path))
            {
                continue;
            }
            if (RotatedOrArchived().IsMatch(name))
            {
                context.Remove(path);
            }
            else
            {
                context.Empty(path);
            }
        }
        if (seen == 0)
        {
            context.Note(context.Directory("/var/log") == null ? "no /var/log" : "no log files under /var/log");
        }
    }
}
