using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using ImageTools.Core;
using ImageTools.Core.Customization;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker customize IMAGE[:N] [operations]</c>: the last changes to a built image, in place and offline, with
/// virt-customize's option names (docs/customize.md). The operations run in the order they are given on the
/// command line, as one crash-safe edit: the image ends up with all of them or none.
/// </summary>
internal static class CustomizeCommand
{
    /// <summary>Each operation's option: name, value name, description (the name is the core's operation name).</summary>
    internal static readonly (string Name, string Value, string Description)[] OperationOptions =
    [
        ("hostname", "NAME", "Set the host name: /etc/hostname, and /etc/hosts' 127.0.1.1 line where it has one"),
        ("ssh-inject", "USER[:file:KEYFILE|:string:KEY]", "Add a public key to USER's ~/.ssh/authorized_keys (0700/0600, USER's owner from the image's /etc/passwd); no key: ~/.ssh/id_*.pub of whoever runs fsmaker"),
        ("copy-in", "LOCALPATH:REMOTEDIR", "Copy a file or a whole tree into REMOTEDIR (which must exist), with its modes; owner from --owner, else root"),
        ("write", "FILE:CONTENT", "Write CONTENT to FILE (created 0644 root, or rewritten keeping its owner and mode); no line break is added"),
        ("append-line", "FILE:LINE", "Append LINE and a line break to FILE (created if absent); a line break goes first if FILE does not end with one"),
        ("mkdir", "DIR", "Make DIR and its missing parents (0755 root)"),
        ("delete", "PATH", "Delete a file, link or whole tree (globs * ? [..] ** allowed; nothing matching is only noted)"),
        ("chmod", "PERMISSIONS:FILE", "Set FILE's permission bits, in octal (0755)"),
        ("link", "TARGET:LINK[:LINK..]", "Make symbolic link(s) LINK pointing at TARGET (an existing file or link is replaced)"),
        ("root-password", "password:P|file:F|random|disabled", "Set root's password in /etc/shadow, hashed as the image's /etc/login.defs asks (yescrypt or SHA-512 crypt)"),
        ("timezone", "ZONE", "Point /etc/localtime at /usr/share/zoneinfo/ZONE and write /etc/timezone (refused if the image lacks the zone)"),
    ];

    public static Command Create()
    {
        var image = new Argument<string>("IMAGE")
        {
            Description = "An ext2/3/4 image, or a disk image with :N for partition N (e.g. disk.img:1); edited in place",
        };
        var operations = OperationOptions.Select(o => new Option<string[]>("--" + o.Name)
        {
            HelpName = o.Value,
            Description = o.Description + " (repeatable)",
            AllowMultipleArgumentsPerToken = false,
        }).ToList();
        var fromFile = new Option<string[]>("--commands-from-file")
        {
            HelpName = "FILE",
            Description = "Operations from FILE, one per line without the '--' (virt-customize's syntax), run where the option stands",
            AllowMultipleArgumentsPerToken = false,
        };
        var owner = new Option<string?>("--owner") { HelpName = "USER[:GROUP]", Description = "Owner of what --copy-in makes (names from the image's /etc/passwd and /etc/group, or UID:GID; default root)" };
        var dryRun = new Option<bool>("--dry-run", "-n") { Description = "Plan every operation and say what would change; write nothing" };
        var redoLog = new Option<string?>("--redo-log") { Description = "Where the redo log goes while the image is written (default: IMAGE.imagetools-redo; needed for block devices)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the summary line" };
        var command = new Command("customize", "Change a built image in place, offline, all or nothing: host name, SSH keys, files, links, root password, time zone (virt-customize's options)")
        {
            image,
        };
        foreach (var option in operations)
        {
            command.Options.Add(option);
        }
        command.Options.Add(fromFile);
        command.Options.Add(owner);
        command.Options.Add(dryRun);
        command.Options.Add(redoLog);
        command.Options.Add(quiet);
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            var list = InOrder(parse, operations.Cast<Option>().Append(fromFile).ToList(), fromFile);
            if (list.Count == 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"customize: no operation given (--{string.Join(", --", CustomizeOperation.Names)}, --commands-from-file)");
            }
            var dry = parse.GetValue(dryRun);
            var options = new CustomizeOptions
            {
                DryRun = dry,
                Owner = parse.GetValue(owner),
                Now = SourceDateEpoch(),
                RedoLogPath = parse.GetValue(redoLog),
            };
            cancellation.ThrowIfCancellationRequested();
            var report = Customizer.Customize(parse.GetValue(image)!, list, options);
            // Printed once the edit is committed (or planned, for a dry run): a failure prints only the error, since
            // nothing it planned was written.
            if (!parse.GetValue(quiet))
            {
                foreach (var change in report.Changes)
                {
                    Console.Out.WriteLine(change.Describe(dry));
                }
            }
            foreach (var note in report.Notes)
            {
                ImageReadingSupport.Note(note);
            }
            var count = list.Count;
            Console.Out.WriteLine(dry
                ? $"fsmaker: dry run of {report.Image} ({report.FilesystemType}): {count} operation{(count == 1 ? "" : "s")} would write {CustomizeContext.Size(report.BytesWritten)}; nothing was written"
                : $"fsmaker: customized {report.Image} ({report.FilesystemType}): {count} operation{(count == 1 ? "" : "s")}, {CustomizeContext.Size(report.BytesWritten)} written");
            return ExitCodes.Success;
        })));
        return command;
    }

    /// <summary>
    /// The operations in the order their options stand on the command line (System.CommandLine groups values by
    /// option, so the order comes from the token list): each option token of an operation, then its argument.
    /// A <paramref name="fromFile"/> option contributes its file's operations at its place.
    /// </summary>
    internal static IReadOnlyList<CustomizeOperation> InOrder(ParseResult parse, IReadOnlyList<Option> operationOptions, Option? fromFile, string prefix = "--")
    {
        var result = new List<CustomizeOperation>();
        Option? pending = null;
        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.Option)
            {
                pending = operationOptions.FirstOrDefault(o => o.Name == token.Value || o.Aliases.Contains(token.Value));
                continue;
            }
            if (pending == null || token.Type != TokenType.Argument)
            {
                pending = null;
                continue;
            }
            if (ReferenceEquals(pending, fromFile))
            {
                result.AddRange(CustomizeScript.ParseFile(token.Value));
            }
            else
            {
                var name = pending.Name[prefix.Length..];
                try
                {
                    result.Add(CustomizeOperation.Parse(name, token.Value));
                }
                catch (ImageToolsException e)
                {
                    throw new ImageToolsException(e.Kind, $"{prefix}{e.Message}", e) { Path = e.Path };
                }
            }
            pending = null;
        }
        return result;
    }

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
}
