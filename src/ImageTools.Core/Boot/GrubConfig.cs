using System.Globalization;
using System.Text;

namespace ImageTools.Core.Boot;

/// <summary>Which filesystem a boot entry reads its kernel and initrd from.</summary>
public enum GrubFileSource
{
    /// <summary>The partition holding GRUB's own files: <c>$root</c> as the prefix set it.</summary>
    BootPartition,

    /// <summary>
    /// The root filesystem, found at boot by its UUID; so a kernel upgraded inside the guest (through
    /// the /vmlinuz links) keeps booting without touching grub.cfg.
    /// </summary>
    RootFilesystem,
}

/// <summary>One menu entry booting a Linux kernel.</summary>
public sealed record GrubMenuEntry
{
    public required string Title { get; init; }

    /// <summary>Absolute path of the kernel inside the filesystem it is read from.</summary>
    public required string KernelPath { get; init; }

    /// <summary>Absolute path of the initrd, or null.</summary>
    public string? InitrdPath { get; init; }

    public GrubFileSource Source { get; init; } = GrubFileSource.BootPartition;

    /// <summary>The kernel command line (see <see cref="KernelCommandLine.Build"/>).</summary>
    public required string CommandLine { get; init; }
}

/// <summary>Menu-wide settings of grub.cfg.</summary>
public sealed record GrubConfigOptions
{
    /// <summary>Seconds the menu waits; 0 boots the default at once.</summary>
    public int TimeoutSeconds { get; init; } = 1;

    /// <summary>Index of the default entry.</summary>
    public int DefaultEntry { get; init; }

    /// <summary>Use the first serial port as well as the screen for the menu (what a VM's serial console shows).</summary>
    public bool SerialConsole { get; init; } = true;

    public int SerialSpeed { get; init; } = 115200;

    /// <summary>
    /// The root filesystem's UUID, which <see cref="GrubFileSource.RootFilesystem"/> entries search for.
    /// </summary>
    public string? RootFilesystemUuid { get; init; }

    /// <summary>The root filesystem's MBR partition number, given to the search as a hint (looked at first).</summary>
    public int RootPartitionNumber { get; init; } = 1;
}

/// <summary>
/// Writes grub.cfg: terminals, timeout and default, then one menuentry per kernel. The modules every
/// entry needs are loaded explicitly with insmod, so the file works with a minimal module set too.
/// GRUB reads it from <c>$prefix/grub.cfg</c>; at that point <c>$root</c> is the partition named by the
/// prefix, so boot-partition entries use plain paths.
/// </summary>
public static class GrubConfigWriter
{
    /// <summary>The modules the written file loads (for choosing a minimal module set).</summary>
    public static IReadOnlyList<string> ModulesUsed(GrubConfigOptions options, IReadOnlyList<GrubMenuEntry> entries)
    {
        var modules = new List<string> { "part_msdos", "ext2" };
        if (options.SerialConsole)
        {
            modules.Add("serial");
        }
        if (entries.Count > 0)
        {
            modules.Add("linux");
        }
        if (entries.Any(e => e.Source == GrubFileSource.RootFilesystem))
        {
            modules.Add("search");
        }
        return modules;
    }

    public static string Write(GrubConfigOptions options, IReadOnlyList<GrubMenuEntry> entries)
    {
        if (options.TimeoutSeconds < 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"GRUB timeout {options.TimeoutSeconds} is negative");
        }
        if (entries.Count > 0 && (options.DefaultEntry < 0 || options.DefaultEntry >= entries.Count))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"default entry {options.DefaultEntry} does not exist ({entries.Count} entries)");
        }
        string? searchUuid = null;
        if (entries.Any(e => e.Source == GrubFileSource.RootFilesystem))
        {
            searchUuid = options.RootFilesystemUuid?.Trim().ToLowerInvariant();
            if (searchUuid == null || !Guid.TryParseExact(searchUuid, "D", out _))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    "boot entries that read the kernel from the root filesystem need the root filesystem's UUID (GRUB finds the partition by it)");
            }
        }

        var cfg = new StringBuilder();
        cfg.Append("# grub.cfg written by ImageTools fsmaker. GRUB reads it from $prefix at boot.\n");
        foreach (var module in ModulesUsed(options, entries))
        {
            cfg.Append("insmod ").Append(module).Append('\n');
        }
        if (options.SerialConsole)
        {
            cfg.Append(CultureInfo.InvariantCulture, $"serial --unit=0 --speed={options.SerialSpeed} --word=8 --parity=no --stop=1\n");
            cfg.Append("terminal_input serial console\n");
            cfg.Append("terminal_output serial console\n");
        }
        cfg.Append(CultureInfo.InvariantCulture, $"set timeout={options.TimeoutSeconds}\n");
        cfg.Append(CultureInfo.InvariantCulture, $"set default={options.DefaultEntry}\n");
        if (entries.Count == 0)
        {
            cfg.Append("# No kernel: GRUB shows its command line.\n");
        }

        foreach (var entry in entries)
        {
            ValidatePath(entry.KernelPath, entry.Title);
            if (entry.InitrdPath != null)
            {
                ValidatePath(entry.InitrdPath, entry.Title);
            }
            cfg.Append('\n').Append("menuentry ").Append(Quote(entry.Title)).Append(" {\n");
            if (entry.Source == GrubFileSource.RootFilesystem)
            {
                cfg.Append(CultureInfo.InvariantCulture,
                    $"    search --no-floppy --fs-uuid --set=root --hint=hd0,msdos{options.RootPartitionNumber} {searchUuid}\n");
            }
            cfg.Append("    linux ").Append(QuoteWord(entry.KernelPath));
            foreach (var argument in KernelCommandLine.Split(entry.CommandLine))
            {
                cfg.Append(' ').Append(QuoteWord(argument));
            }
            cfg.Append('\n');
            if (entry.InitrdPath != null)
            {
                cfg.Append("    initrd ").Append(QuoteWord(entry.InitrdPath)).Append('\n');
            }
            cfg.Append("}\n");
        }
        return cfg.ToString();
    }

    /// <summary>
    /// The entries for kernels found inside the root filesystem (see <see cref="KernelLocator"/>), in the
    /// same order: the /vmlinuz links first, then versions newest first.
    /// </summary>
    public static IReadOnlyList<GrubMenuEntry> EntriesForRootKernels(IReadOnlyList<KernelCandidate> kernels, string commandLine, string distributionName = "Linux") =>
        kernels.Select(k => new GrubMenuEntry
        {
            Title = k.IsLink ? $"{distributionName} ({k.KernelPath})" : $"{distributionName}, kernel {k.Version}",
            KernelPath = k.KernelPath,
            InitrdPath = k.InitrdPath,
            Source = GrubFileSource.RootFilesystem,
            CommandLine = commandLine,
        }).ToList();

    private static void ValidatePath(string path, string title)
    {
        if (path.Length == 0 || path[0] != '/' || path.Any(char.IsControl))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"boot entry \"{title}\": \"{path}\" is not an absolute path");
        }
    }

    /// <summary>
    /// A word safe for GRUB's script parser: left alone when made only of characters with no meaning to
    /// it, else single-quoted (inside single quotes nothing is special; a quote itself is written '\'').
    /// </summary>
    internal static string QuoteWord(string word)
    {
        if (word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=,:@%".Contains(c)))
        {
            return word;
        }
        return Quote(word);
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
