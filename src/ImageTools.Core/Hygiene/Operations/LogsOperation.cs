using System.Text.RegularExpressions;

namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// logs: every regular file under /var/log is handled; directories, their owners and modes stay, as do
/// links, sockets and FIFOs. Rotated and compressed logs (syslog.1, syslog.2.gz, messages-20240101,
/// *.old) and the systemd journal's files (*.journal, *.journal~) are removed: nothing writes to them again.
/// The live logs (syslog, dmesg, kern.log, auth.log, cloud-init.log...) are emptied, keeping the file, its
/// owner and mode, which daemons expect. The persistent journal's per-machine directories
/// (/var/log/journal/MACHINE-ID) go whole: they are named after the machine ID being reset, and journald makes
/// the new one; /var/log/journal itself stays (it is what makes the journal persistent). The login records
/// under /var/log (wtmp, btmp, lastlog, faillog) belong to the login-records operation and are left to it.
/// </summary>
public sealed partial class LogsOperation : ScrubOperation
{
    public override string Name => "logs";

    public override string Description => "empty the logs under /var/log and remove rotated, compressed and journal files (directories, owners and modes kept)";

    [GeneratedRegex(@"(\.\d+(\.(gz|xz|bz2|zst|lz4|lzma|Z))?|\.(gz|xz|bz2|zst|lz4|lzma|Z|old)|-\d{8}(\.(gz|xz|bz2|zst))?|\.journal~?)$")]
    private static partial Regex RotatedOrArchived();

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex MachineIdName();

    public override void Run(ScrubContext context)
    {
        var seen = 0;
        foreach (var (path, inode) in context.List("/var/log/journal"))
        {
            if (inode.IsDirectory && MachineIdName().IsMatch(path[(path.LastIndexOf('/') + 1)..]))
            {
                seen++;
                context.Remove(path, "the journal of the old machine ID");
            }
        }
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
