using System.CommandLine;
using System.CommandLine.Parsing;
using ImageTools.Core;
using ImageTools.Core.Sparse;

namespace ImageTools.SparseCopy;

/// <summary>
/// sparsecopy's command line: v0.10's options exactly (short options take their value attached or separate,
/// bundling like <c>-qn</c>, the last of a repeated option wins) plus the new long options. Parsing yields a
/// <see cref="SparseCopyArguments"/>; sizes are converted only once <c>-b</c> is known, since bare numbers
/// count blocks.
/// </summary>
public static class CommandLine
{
    public const string Usage = """
        usage: sparsecopy [OPTIONS] SOURCE DEST
               sparsecopy --list [--json] IMAGE
               sparsecopy --create-bmap FILE IMAGE
        Copy SOURCE to DEST, leaving holes where SOURCE has zeros and never reading SOURCE's holes.
        SOURCE and DEST: a file, a block device, or - (stdin / stdout). gzip, zstd, xz and bzip2 input
        is unpacked on the fly.

          -o, --overlay            write over an existing DEST file instead of replacing it
          -n, --nocheck            skip the blank check: do not make DEST zero where SOURCE is zero
          -q, --quiet              no final statistics line
          -m, --maxwrite, --max SIZE  copy at most SIZE bytes of SOURCE
          -e, --errorremainder     fail (exit 12) if SOURCE holds more than --maxwrite
          -b, --blocksize SIZE     zero-detection block and unit of bare numbers (default 512;
                                   a bare number here counts 512-byte blocks)
          -s, --seek POS           start writing at POS in DEST
          -f, --finalsize SIZE     make DEST exactly SIZE at the end (files only)
          -c, --check              refuse (exit 11) unless DEST's first block is all zero
          -p, --progress           live progress on stderr
          -y, --syncevery SIZE     flush DEST to disk after every SIZE bytes written
              --skip POS           start reading SOURCE at POS
              --no-decompress      copy compressed SOURCE as it is
              --json               print the summary as JSON (stdout; stderr when DEST is -)
              --verify             read DEST back and compare SHA-256 with SOURCE
              --blank-check MODE   auto (zero with the OS where cheap, else read back) or readback

        Partition tables (MBR with logical partitions, and GPT):
              --list               print IMAGE's partition table like sfdisk -l (with --json: as JSON)
              --partition N        copy only partition N of SOURCE
              --to-partition N     write SOURCE into partition N of the existing disk image or disk DEST
              --grow               after copying a whole disk to a device or to a file of -f SIZE, extend
                                   the last partition to DEST's end (the file system inside is not resized)
        A DEST smaller than SOURCE is fine when every partition ends within it. A GPT copied to a DEST of
        another size gets its backup header and entries moved to DEST's end.

        Virtual-disk containers (SOURCE: recognised by content; see docs/containers.md):
          -O, --output-format FMT  write DEST as raw (default), qcow2 or vhd (fixed, Azure: size a whole MiB)
              --compress[=zstd]    qcow2: compress clusters (zlib, or zstd), in parallel on every core

        Block maps (bmaptool's format):
              --create-bmap FILE   write IMAGE's block map to FILE
              --bmap FILE          copy only the ranges FILE maps, checking each range's checksum
          -h, --help               this text
              --version            the version (the package's)

        SIZE: a number of blocks, or a number with B, K, M, G, T, P or E (powers of 1024).
        Example: sparsecopy -f2G /dev/null disk.img   (a 2 GiB sparse file)
        """;

    // Options are fields so that a new mode can read its own (see docs/sparsecopy.md, "How the command is laid out").
    private static readonly Option<bool> OverlayOption = new("--overlay", "-o");
    private static readonly Option<bool> NoCheckOption = new("--nocheck", "-n");
    private static readonly Option<bool> QuietOption = new("--quiet", "-q");
    private static readonly Option<string[]> MaxOption = ValueOption("--maxwrite", "--max", "-m");
    private static readonly Option<bool> ErrorRemainderOption = new("--errorremainder", "-e");
    private static readonly Option<string[]> BlockSizeOption = ValueOption("--blocksize", "-b");
    private static readonly Option<string[]> SeekOption = ValueOption("--seek", "-s");
    private static readonly Option<string[]> FinalSizeOption = ValueOption("--finalsize", "-f");
    private static readonly Option<bool> CheckOption = new("--check", "-c");
    private static readonly Option<bool> ProgressOption = new("--progress", "-p");
    private static readonly Option<string[]> SyncEveryOption = ValueOption("--syncevery", "-y");
    private static readonly Option<bool> HelpOption = new("--help", "-h", "-?");
    private static readonly Option<bool> PrintVersionOption = new("--version");
    private static readonly Option<string[]> SkipOption = ValueOption("--skip");
    private static readonly Option<bool> NoDecompressOption = new("--no-decompress");
    private static readonly Option<bool> JsonOption = new("--json");
    private static readonly Option<bool> VerifyOption = new("--verify");
    private static readonly Option<string[]> BlankCheckOption = ValueOption("--blank-check");
    private static readonly Option<bool> ListOption = new("--list");
    private static readonly Option<string[]> PartitionOption = ValueOption("--partition");
    private static readonly Option<string[]> ToPartitionOption = ValueOption("--to-partition");
    private static readonly Option<bool> GrowOption = new("--grow");
    private static readonly Option<string[]> CreateBmapOption = ValueOption("--create-bmap");
    private static readonly Option<string[]> BmapOption = ValueOption("--bmap");
    private static readonly Option<string[]> OutputFormatOption = ValueOption("--output-format", "-O");
    private static readonly Option<bool> CompressOption = new("--compress");
    private static readonly Option<string[]> CompressTypeOption = ValueOption("--compress-type");
    private static readonly Argument<string[]> PathsArgument = new("paths") { Arity = ArgumentArity.ZeroOrMore };

    private static Option<string[]> ValueOption(string name, params string[] aliases) =>
        new(name, aliases) { Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };

    private static RootCommand Build()
    {
        var root = new RootCommand("sparsecopy: a sparse-aware dd")
        {
            OverlayOption, NoCheckOption, QuietOption, MaxOption, ErrorRemainderOption, BlockSizeOption, SeekOption,
            FinalSizeOption, CheckOption, ProgressOption, SyncEveryOption, SkipOption, NoDecompressOption, JsonOption,
            VerifyOption, BlankCheckOption, ListOption, PartitionOption, ToPartitionOption, GrowOption, CreateBmapOption, BmapOption,
            OutputFormatOption, CompressOption, CompressTypeOption, PathsArgument,
        };
        // Our own -h (usage on stderr, exit 0, as v0.10) and --version; no directives.
        foreach (var builtIn in root.Options.Where(o => o is System.CommandLine.Help.HelpOption or VersionOption).ToList())
        {
            root.Options.Remove(builtIn);
        }
        root.Directives.Clear();
        root.Options.Add(HelpOption);
        root.Options.Add(PrintVersionOption);
        return root;
    }

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ImageToolsException"/> (InvalidArgument) on any error.</summary>
    public static SparseCopyArguments Parse(IReadOnlyList<string> args)
    {
        var root = Build();
        // --compress takes its value only attached (--compress=zstd), so that "--compress SOURCE DEST" keeps its paths.
        args = args.Select(a => a.StartsWith("--compress=", StringComparison.Ordinal) ? ["--compress", "--compress-type", a["--compress=".Length..]] : new[] { a })
            .SelectMany(a => a).ToList();
        // A SOURCE named "@something" is a file, not a response file.
        var result = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (result.GetValue(HelpOption))
        {
            return new SparseCopyArguments { Mode = Mode.Help };
        }
        if (result.GetValue(PrintVersionOption))
        {
            return new SparseCopyArguments { Mode = Mode.Version };
        }
        if (result.Errors.Count > 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, string.Join("; ", result.Errors.Select(e => e.Message)));
        }
        var paths = result.GetValue(PathsArgument) ?? Array.Empty<string>();
        var list = result.GetValue(ListOption);
        var createBmap = Last(result, CreateBmapOption);
        var bmap = Last(result, BmapOption);
        var sourcePartition = PartitionNumber(result, PartitionOption, "--partition");
        var destinationPartition = PartitionNumber(result, ToPartitionOption, "--to-partition");
        var grow = result.GetValue(GrowOption);
        var mode = list ? Mode.List : createBmap != null ? Mode.CreateBmap : Mode.Copy;
        if (list && createBmap != null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--list and --create-bmap are two different jobs; give one");
        }
        if (mode != Mode.Copy)
        {
            var name = list ? "--list" : "--create-bmap";
            var copyOnly = new (bool Given, string Option)[]
            {
                (sourcePartition != null, "--partition"), (destinationPartition != null, "--to-partition"), (grow, "--grow"), (bmap != null, "--bmap"),
            }.Where(o => o.Given).Select(o => o.Option).ToList();
            if (copyOnly.Count > 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{name} reads IMAGE; {string.Join(", ", copyOnly)} belong to a copy");
            }
            if (paths.Length != 1)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    paths.Length == 0 ? $"{name} needs the IMAGE to read" : $"{name} takes one path (IMAGE), got {paths.Length}: {string.Join(' ', paths)}");
            }
        }
        else if (paths.Length != 2)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                paths.Length < 2 ? "SOURCE and DEST are required" : $"exactly two paths (SOURCE DEST) expected, got {paths.Length}: {string.Join(' ', paths)}");
        }

        // -b first: the other sizes count its blocks; -b itself counts 512-byte blocks.
        var blockSize = Size(result, BlockSizeOption, "--blocksize", SizeParser.DefaultBlockSize) ?? SizeParser.DefaultBlockSize;
        if (blockSize <= 0 || blockSize > SparseCopyOptions.MaxBlockSize)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"--blocksize {blockSize} bytes is out of range (1 byte to {SparseCopyOptions.MaxBlockSize >> 20} MiB)");
        }
        var syncEvery = Size(result, SyncEveryOption, "--syncevery", blockSize);
        if (syncEvery == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--syncevery must be more than 0");
        }

        var blankCheckText = Last(result, BlankCheckOption);
        var blankCheck = blankCheckText switch
        {
            null or "auto" => BlankCheckMode.Auto,
            "readback" => BlankCheckMode.ReadBack,
            _ => throw new ImageToolsException(ErrorKind.InvalidArgument, $"--blank-check '{blankCheckText}': use auto or readback (-n turns the check off)"),
        };

        var outputFormatText = Last(result, OutputFormatOption);
        var outputFormat = outputFormatText == null ? Core.Containers.ContainerFormat.Raw : Core.Containers.ContainerFormats.Parse(outputFormatText);
        var compressType = Last(result, CompressTypeOption);
        var compression = !result.GetValue(CompressOption) ? Core.Containers.ClusterCompression.None : compressType switch
        {
            null or "zlib" => Core.Containers.ClusterCompression.Zlib,
            "zstd" => Core.Containers.ClusterCompression.Zstd,
            _ => throw new ImageToolsException(ErrorKind.InvalidArgument, $"--compress={compressType}: use --compress (zlib) or --compress=zstd"),
        };
        if (mode != Mode.Copy && (outputFormatText != null || compression != Core.Containers.ClusterCompression.None))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "-O and --compress belong to a copy");
        }

        return new SparseCopyArguments
        {
            OutputFormat = outputFormat,
            OutputCompression = compression,
            Mode = mode,
            Paths = paths,
            BlockSizeGiven = Last(result, BlockSizeOption) != null,
            SourcePartition = sourcePartition,
            DestinationPartition = destinationPartition,
            Grow = grow,
            CreateBmapPath = createBmap,
            BmapPath = bmap,
            Overlay = result.GetValue(OverlayOption),
            NoBlankCheck = result.GetValue(NoCheckOption),
            Quiet = result.GetValue(QuietOption),
            MaxBytes = Size(result, MaxOption, "--maxwrite", blockSize),
            FailIfMore = result.GetValue(ErrorRemainderOption),
            BlockSize = blockSize,
            Seek = Size(result, SeekOption, "--seek", blockSize) ?? 0,
            FinalSize = Size(result, FinalSizeOption, "--finalsize", blockSize),
            CheckFirstBlock = result.GetValue(CheckOption),
            Progress = result.GetValue(ProgressOption),
            SyncEvery = syncEvery,
            Skip = Size(result, SkipOption, "--skip", blockSize) ?? 0,
            NoDecompress = result.GetValue(NoDecompressOption),
            Json = result.GetValue(JsonOption),
            Verify = result.GetValue(VerifyOption),
            BlankCheck = blankCheck,
        };
    }

    private static string? Last(ParseResult result, Option<string[]> option)
    {
        var values = result.GetValue(option);
        return values is { Length: > 0 } ? values[^1] : null;
    }

    private static int? PartitionNumber(ParseResult result, Option<string[]> option, string name)
    {
        var text = Last(result, option);
        if (text == null)
        {
            return null;
        }
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{name} '{text}': give a partition number (1-4 primary, 5 and up logical, as sfdisk numbers them)");
        }
        return number;
    }

    private static long? Size(ParseResult result, Option<string[]> option, string name, long blockSize)
    {
        var text = Last(result, option);
        if (text == null)
        {
            return null;
        }
        if (!SizeParser.TryParse(text, blockSize, out var bytes, out var error))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{name}: {error}");
        }
        return bytes;
    }
}
