using System.CommandLine;
using System.Globalization;
using ImageTools.Core;
using ImageTools.Core.Hygiene;
using ImageTools.Core.Hygiene.FirstBoot;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker scrub IMAGE[:PARTITION]</c>: cleans an image before it is published (docs/hygiene.md):
/// named operations as virt-sysprep has them, optional first-boot script, all in one crash-safe in-place
/// edit (the image ends up fully scrubbed or unchanged), or a dry run that only says what would change.
/// </summary>
internal static class ScrubCommand
{
    public static Command Create()
    {
        var image = new Argument<string?>("IMAGE")
        {
            Description = "An ext2/3/4 image, or a disk image with :N for partition N (e.g. disk.img:1); edited in place",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var list = new Option<bool>("--list") { Description = "List the operations and exit" };
        var operations = new Option<string?>("--operations")
        {
            Description = "Operations to run, comma-separated: names, -name to leave one out, 'defaults', 'none' (default: all but remove; remove runs whenever --remove is given)",
        };
        var remove = new Option<string[]>("--remove")
        {
            Description = "A path inside the image to remove, with everything below it (repeatable; globs * ? [..] and ** allowed)",
            AllowMultipleArgumentsPerToken = false,
        };
        var dryRun = new Option<bool>("--dry-run", "-n") { Description = "Say what would change; write nothing" };
        var firstBoot = new Option<bool>("--first-boot") { Description = "Install the first-boot script: at the first start, the account's password from the metadata service, new SSH host keys and machine-id" };
        var metadataUrl = new Option<string?>("--metadata-url") { Description = $"Where the first-boot script fetches the initial password (default {FirstBootOptions.DefaultMetadataUrl})" };
        var firstBootUser = new Option<string?>("--first-boot-user") { Description = "The account whose password the first-boot script sets (default root)" };
        var firstBootInit = new Option<string?>("--first-boot-init") { Description = "How the script is started: auto (default), systemd, sysv or busybox" };
        var redoLog = new Option<string?>("--redo-log") { Description = "Where the redo log goes while the image is written (default: IMAGE.imagetools-redo; needed for block devices)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the summary line" };
        var command = new Command("scrub", "Remove what must not be published from an image (passwords, keys, logs, histories...) in place; optionally install a first-boot script")
        {
            image, list, operations, remove, dryRun, firstBoot, metadataUrl, firstBootUser, firstBootInit, redoLog, quiet,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            if (parse.GetValue(list))
            {
                foreach (var op in ScrubOperations.All)
                {
                    Console.Out.WriteLine($"{op.Name,-14} {(op.EnabledByDefault ? "default" : "on --remove"),-15} {op.Description}");
                }
                Console.Out.WriteLine($"{"first-boot",-14} {"on --first-boot",-15} install the first-boot script (initial password from the metadata service, new SSH host keys and machine-id)");
                Console.Out.WriteLine();
                Console.Out.WriteLine("virt-sysprep's Linux operations not covered here, and why (docs/hygiene.md has the whole comparison):");
                foreach (var (names, why) in NotCovered)
                {
                    Console.Out.WriteLine($"  {names}: {why}");
                }
                return ExitCodes.Success;
            }
            var specification = parse.GetValue(image)
                ?? throw new ImageToolsException(ErrorKind.InvalidArgument, "scrub needs an IMAGE (or --list)");
            var removePaths = parse.GetValue(remove) ?? [];
            var wantFirstBoot = parse.GetValue(firstBoot);
            if (!wantFirstBoot && (parse.GetValue(metadataUrl) != null || parse.GetValue(firstBootUser) != null || parse.GetValue(firstBootInit) != null))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, "--metadata-url, --first-boot-user and --first-boot-init go with --first-boot");
            }
            var options = new ScrubOptions
            {
                Operations = OperationSelection.Parse(parse.GetValue(operations), removePaths.Length > 0),
                RemovePaths = removePaths,
                DryRun = parse.GetValue(dryRun),
                FirstBoot = wantFirstBoot ? FirstBootFrom(parse.GetValue(metadataUrl), parse.GetValue(firstBootUser), parse.GetValue(firstBootInit)) : null,
                Now = SourceDateEpoch(),
                RedoLogPath = parse.GetValue(redoLog),
                OnChange = parse.GetValue(quiet) ? null : change => Console.Out.WriteLine(change.Describe(parse.GetValue(dryRun))),
            };
            cancellation.ThrowIfCancellationRequested();
            var report = Scrubber.Scrub(specification, options);
            foreach (var note in report.Notes)
            {
                ImageReadingSupport.Note(note);
            }
            Console.Out.WriteLine(Summary(report));
            return ExitCodes.Success;
        })));
        return command;
    }

    /// <summary>virt-sysprep operations that apply to Linux and are left out, with the reason (kept in step with docs/hygiene.md).</summary>
    private static readonly (string Names, string Why)[] NotCovered =
    [
        ("abrt-data, pacct-log, puppet-data-log, samba-db-log, sssd-db-log", "their files are under /var/log or /var/crash (logs, crash-data); their databases outside /var/log are left: removing a service's state is the service owner's call"),
        ("backup-files (*~, *.bak under /etc)", "left: an editor's backup may be the only copy of a configuration; use --remove '/etc/**/*~'"),
        ("bash-history, utmp, logfiles, package-manager-cache, tmp-files, ssh-hostkeys, machine-id, passwd-backups", "covered as histories, login-records, logs, package-cache, tmp, ssh-hostkeys, machine-id, passwords"),
        ("blkid-tab, lvm-system-devices, yum-uuid, rpm-db, smolt-uuid, rhn-systemid, rh-subscription-manager, ipa-client, kerberos-hostkeys", "left: distribution- or enrolment-specific; use --remove PATH for what your images hold"),
        ("customize, script, user-account, ssh-userdir, ca-certificates, firewall-rules, kerberos-data, dovecot-data, dhcp-server-state", "left: not on by default in virt-sysprep either, or they change what the image does rather than what it remembers"),
        ("net-hostname, net-nmconn", "left: the hostname and connection profiles are configuration the publisher chose; net-hwaddr removes what binds them to the builder's card"),
        ("fs-uuids, lvm-uuids", "left: changing the root filesystem's UUID breaks root=UUID= in the boot configuration; fsmaker builds give each disk a new UUID (or one derived from SOURCE_DATE_EPOCH)"),
        ("flag-reconfiguration", "left: not on by default in virt-sysprep; the first-boot script does the per-server setup"),
    ];

    /// <summary>The first-boot settings from the options (shared with the build command's --first-boot).</summary>
    public static FirstBootOptions FirstBootFrom(string? url, string? user, string? init)
    {
        var options = new FirstBootOptions
        {
            MetadataUrl = url ?? FirstBootOptions.DefaultMetadataUrl,
            User = user ?? "root",
            Init = init switch
            {
                null or "auto" => FirstBootInit.Auto,
                "systemd" => FirstBootInit.Systemd,
                "sysv" or "sysvinit" => FirstBootInit.SysV,
                "busybox" => FirstBootInit.Busybox,
                _ => throw new ImageToolsException(ErrorKind.InvalidArgument, $"--first-boot-init '{init}': use auto, systemd, sysv or busybox"),
            },
        };
        options.Validate();
        return options;
    }

    /// <summary>SOURCE_DATE_EPOCH, when set: the time written into what the scrub changes (reproducible output).</summary>
    private static DateTimeOffset? SourceDateEpoch()
    {
        var text = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"SOURCE_DATE_EPOCH '{text}' is not a number of seconds since 1970");
        }
        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }

    private static string Summary(ScrubReport report)
    {
        var changes = report.Changes.Count(c => c.Action != ScrubAction.Note);
        var freed = ScrubContext.Size(report.BlocksFreed * (ulong)report.BlockSize);
        var zeroed = ScrubContext.Size((ulong)report.BytesZeroed);
        var written = ScrubContext.Size((ulong)report.BytesWritten);
        if (report.DryRun)
        {
            return changes == 0
                ? $"fsmaker: dry run of {report.Image} ({report.FilesystemType}): nothing to change; nothing was written"
                : $"fsmaker: dry run of {report.Image} ({report.FilesystemType}): {changes} change{(changes == 1 ? "" : "s")} would free {freed}, zero {zeroed} and write {written}; nothing was written";
        }
        return changes == 0
            ? $"fsmaker: {report.Image} ({report.FilesystemType}) is already clean: nothing changed"
            : $"fsmaker: scrubbed {report.Image} ({report.FilesystemType}): {changes} change{(changes == 1 ? "" : "s")}, {freed} freed, {zeroed} zeroed, {written} written";
    }
}
