using System.CommandLine;
using System.Globalization;
using System.Reflection;
using ImageTools.Core;
using ImageTools.Core.Ext.Writer;
using ImageTools.Core.Sbom;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker sbom IMAGE[:N] | DIR | TAR</c>: a software bill of materials of what is installed in a root filesystem
/// (docs/fsmaker.md "sbom"), read offline: CycloneDX 1.5 JSON, or SPDX 2.3 JSON with --format spdx.
/// </summary>
internal static class SbomCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("ROOT")
        {
            Description = "An ext2/3/4 image or a disk image with :N for partition N (may be compressed), a directory, or a tar archive (may be compressed)",
        };
        var format = new Option<string>("--format", "-f") { Description = "cyclonedx (CycloneDX 1.5 JSON, the default) or spdx (SPDX 2.3 JSON)", DefaultValueFactory = _ => "cyclonedx" };
        format.AcceptOnlyFromAmong("cyclonedx", "spdx");
        var output = new Option<string?>("--output", "-o") { Description = "Write the SBOM to this file (written under a temporary name, renamed when complete); default: stdout" };
        var epoch = new Option<string?>("--source-date-epoch") { HelpName = "SECONDS", Description = "The document's creation time (seconds since 1970), for identical output from identical input; default: $SOURCE_DATE_EPOCH, else now" };
        var command = new Command("sbom", "Write a software bill of materials (CycloneDX or SPDX JSON) of the packages and kernels installed in a root filesystem, offline")
        {
            input, format, output, epoch,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            var inventory = SbomBuilder.Build(parse.GetValue(input)!, cancellation);
            var sbomFormat = parse.GetValue(format) == "spdx" ? SbomFormat.Spdx : SbomFormat.CycloneDx;
            var created = CreationTime(parse.GetValue(epoch));
            var version = typeof(SbomCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";
            if (inventory.Sources.Count == 0)
            {
                ImageReadingSupport.Warn($"{inventory.Subject}: no package database found (looked for {DpkgDatabase.StatusPath}, {ApkDatabase.InstalledPath}, {SbomBuilder.RpmSqlitePath})");
            }
            if (parse.GetValue(output) is { } path && path != "-")
            {
                using var buffer = new MemoryStream();
                SbomWriter.Write(inventory, sbomFormat, buffer, version, created);
                using var file = AtomicOutputFile.Create(path);
                RandomAccess.Write(file.Handle, buffer.GetBuffer().AsSpan(0, (int)buffer.Length), 0);
                file.Commit();
                Console.Error.WriteLine($"fsmaker: {path}: {(sbomFormat == SbomFormat.Spdx ? "SPDX 2.3" : "CycloneDX 1.5")}, " +
                    $"{inventory.Packages.Count} packages from {(inventory.Sources.Count > 0 ? string.Join(", ", inventory.Sources) : "no database")}, {inventory.Kernels.Count} kernels");
            }
            else
            {
                using var stdout = Console.OpenStandardOutput();
                SbomWriter.Write(inventory, sbomFormat, stdout, version, created);
            }
            return ExitCodes.Success;
        })));
        return command;
    }

    private static DateTimeOffset CreationTime(string? option)
    {
        var text = option ?? Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrEmpty(text))
        {
            return DateTimeOffset.UtcNow;
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 253402300799)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"source date epoch '{text}': give whole seconds since 1970");
        }
        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }
}
