using System.Text;

namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// An operation that removes a fixed set of paths (globs as <see cref="PathPattern"/> reads them), and/or the
/// files below some directories while keeping the directories (their owners and modes are what the daemons
/// that fill them expect). Paths that are absent are simply not there: nothing to report.
/// </summary>
public class PathSetOperation(string name, string description, string[] remove, string[]? filesBelow = null) : ScrubOperation
{
    public override string Name => name;

    public override string Description => description;

    public override void Run(ScrubContext context)
    {
        foreach (var pattern in remove)
        {
            foreach (var path in PathPattern.Parse(pattern).Matches(context))
            {
                context.Remove(path);
            }
        }
        foreach (var directory in filesBelow ?? [])
        {
            foreach (var (path, inode) in context.Walk(directory).ToList())
            {
                if (!inode.IsDirectory && context.Lookup(path) != null)
                {
                    context.Remove(path);
                }
            }
        }
    }
}

/// <summary>random-seed: the saved kernel entropy; every clone would start its random pool from the same seed (systemd and the urandom script make a new one).</summary>
public sealed class RandomSeedOperation() : PathSetOperation("random-seed",
    "remove the saved random seed (/var/lib/systemd/random-seed, /var/lib/urandom/random-seed): clones must not share it",
    ["/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed", "/var/lib/random-seed"]);

/// <summary>credential-secret: systemd's host secret for encrypted credentials (made anew when missing).</summary>
public sealed class CredentialSecretOperation() : PathSetOperation("credential-secret",
    "remove systemd's credential secret (/var/lib/systemd/credential.secret; systemd makes a new one)",
    ["/var/lib/systemd/credential.secret"]);

/// <summary>dhcp-client-state: leases of dhclient, dhcpcd, NetworkManager and wicked (an old lease makes a clone ask for the builder's address).</summary>
public sealed class DhcpClientStateOperation() : PathSetOperation("dhcp-client-state",
    "remove DHCP client leases (dhclient, dhcpcd, NetworkManager, wicked, systemd-networkd)",
    ["/var/lib/NetworkManager/*.lease", "/var/lib/NetworkManager/dhclient-*.conf", "/var/lib/wicked/lease-*", "/var/lib/systemd/network/*.lease"],
    ["/var/lib/dhcp", "/var/lib/dhclient", "/var/lib/dhcpcd", "/var/lib/dhcpcd5"]);

/// <summary>cloud-init: the instance state that makes cloud-init treat a clone as the instance it already configured.</summary>
public sealed class CloudInitStateOperation() : PathSetOperation("cloud-init",
    "remove cloud-init's instance state (/var/lib/cloud/instances, instance, data, sem) so each clone is a new instance",
    ["/var/lib/cloud/instances", "/var/lib/cloud/instance", "/var/lib/cloud/data", "/var/lib/cloud/sem"]);

/// <summary>udev-persistent-net: the rules that pin interface names to the builder's MAC addresses (a clone's NIC would become eth1).</summary>
public sealed class UdevPersistentNetOperation() : PathSetOperation("udev-persistent-net",
    "remove /etc/udev/rules.d/70-persistent-net.rules (interface names bound to the builder's MAC addresses)",
    ["/etc/udev/rules.d/70-persistent-net.rules"]);

/// <summary>crash-data: kernel and program crash dumps (kdump, systemd-coredump, ABRT, apport).</summary>
public sealed class CrashDataOperation() : PathSetOperation("crash-data",
    "remove crash dumps (/var/crash, /var/lib/systemd/coredump, /var/spool/abrt, /var/lib/apport/coredump)",
    [], ["/var/crash", "/var/lib/systemd/coredump", "/var/spool/abrt", "/var/lib/apport/coredump"]);

/// <summary>cron-spool: users' crontabs and at jobs (the spool directories, with their special modes, stay).</summary>
public sealed class CronSpoolOperation() : PathSetOperation("cron-spool",
    "remove users' crontabs and at jobs (/var/spool/cron, /var/spool/at*; directories kept)",
    [], ["/var/spool/cron", "/var/spool/at", "/var/spool/atjobs", "/var/spool/atspool"]);

/// <summary>mail-spool: local mail (cron's output, bounces) that the builder received.</summary>
public sealed class MailSpoolOperation() : PathSetOperation("mail-spool",
    "remove local mail (/var/mail, /var/spool/mail; directories kept)",
    [], ["/var/mail", "/var/spool/mail"]);

/// <summary>
/// net-hwaddr: hard-coded MAC addresses in network configuration, which bind a clone's connection to the
/// builder's card: <c>HWADDR=</c> lines in ifcfg files, <c>mac-address=</c> lines in NetworkManager keyfiles
/// (the connection then applies to any card). Only those lines go; the rest of each file stays byte for byte.
/// </summary>
public sealed class NetHwaddrOperation : ScrubOperation
{
    public override string Name => "net-hwaddr";

    public override string Description => "remove hard-coded MAC addresses: HWADDR= in ifcfg files, mac-address= in NetworkManager connections";

    public override void Run(ScrubContext context)
    {
        foreach (var (directory, prefix, key) in new[]
        {
            ("/etc/sysconfig/network-scripts", "ifcfg-", "HWADDR="),
            ("/etc/NetworkManager/system-connections", "", "mac-address="),
        })
        {
            foreach (var (path, inode) in context.List(directory))
            {
                if (!inode.IsRegularFile || !path[(path.LastIndexOf('/') + 1)..].StartsWith(prefix, StringComparison.Ordinal) || inode.Size > 1 << 20)
                {
                    continue;
                }
                var text = Encoding.UTF8.GetString(context.ReadAll(inode, 1 << 20));
                var lines = text.Split('\n');
                var kept = lines.Where(l => !l.TrimStart().StartsWith(key, StringComparison.Ordinal)).ToArray();
                if (kept.Length == lines.Length)
                {
                    continue;
                }
                context.Editor.Rewrite(path, Encoding.UTF8.GetBytes(string.Join('\n', kept)));
                context.Report(ScrubAction.Rewritten, path, $"{lines.Length - kept.Length} {key.TrimEnd('=')} line{(lines.Length - kept.Length == 1 ? "" : "s")} removed");
            }
        }
    }
}
