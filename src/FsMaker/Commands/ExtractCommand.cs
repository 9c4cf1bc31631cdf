using ImageTools.Core.Platform;
using System.CommandLine;
using ImageTools.Core;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Imaging;
using ImageTools.Core.Imaging.Export;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker extract IMAGE[:PARTITION] PATH... [-o DIR]</c>: copies files or directory trees out of an
/// ext filesystem into DIR, each under its own name (like <c>cp -a</c> or virt-copy-out), with owners
/// (as root), modes, times and xattrs; or one file to stdout with <c>-o -</c>.
/// </summary>
internal static class ExtractCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("IMAGE") { Description = "An ext2/3/4 image, or a disk image with :N for partition N (e.g. disk.img:1); may be compressed" };
        var paths = new Argument<string[]>("PATH") { Description = "Absolute paths inside the filesystem (files or directories)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "Directory to extract into (created if missing; nothing in it is overwritten), or - to write one file to stdout", DefaultValueFactory = _ => "." };
        var dereference = new Option<bool>("--dereference", "-L") { Description = "When a PATH is a symbolic link, extract what it points to (inside the image) instead of the link" };
        var keepGoing = ImageReadingSupport.KeepGoingOption();
        var staleJournal = ImageReadingSupport.StaleJournalOption();
        var noChecksums = ImageReadingSupport.NoChecksumsOption();
        var command = new Command("extract", "Copy files or directories out of an ext2/3/4 image (or one partition of a disk image)")
        {
            image, paths, output, dereference, keepGoing, staleJournal, noChecksums,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            using var opened = ExtImageOpener.Open(parse.GetValue(image)!, ImageReadingSupport.OpenOptions(parse, staleJournal, noChecksums), cancellation);
            var fs = opened.FileSystem;
            var destination = parse.GetValue(output)!;
            var sources = parse.GetValue(paths)!;
            if (destination == "-")
            {
                PlatformIo.Current.RefuseStdoutIsInput(ExtImageOpener.ParseSpecification(parse.GetValue(image)!).Path, "IMAGE");
                return ToStdout(fs, sources);
            }
            var problems = 0;
            foreach (var source in sources)
            {
                var trimmed = source.TrimEnd('/');
                var rootName = trimmed.Length == 0 ? "." : trimmed[(trimmed.LastIndexOf('/') + 1)..];
                var sink = new DirectoryExportSink(destination, new DirectoryExportOptions { RequireEmptyDestination = false, OnNotice = ImageReadingSupport.Note });
                var summary = ExtExporter.Export(fs, sink, new ExtExportOptions
                {
                    SourcePath = source,
                    RootName = rootName,
                    FollowSourceSymlink = parse.GetValue(dereference),
                    KeepGoing = parse.GetValue(keepGoing),
                    OnProblem = ImageReadingSupport.Problem,
                    CancellationToken = cancellation,
                });
                problems += summary.Problems.Count;
            }
            foreach (var warning in opened.FileSystem.Warnings)
            {
                ImageReadingSupport.Warn($"{opened.Description}: {warning}");
            }
            return problems == 0 ? ExitCodes.Success : ExitCodes.CorruptInput;
        })));
        return command;
    }

    private static int ToStdout(ExtFileSystem fs, string[] sources)
    {
        if (sources.Length != 1)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "-o - writes one file to stdout; name exactly one PATH");
        }
        var inode = fs.Resolve(sources[0], followLast: true);
        if (!inode.IsRegularFile)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{sources[0]} is a {ExtFileSystem.DescribeType(inode.Type)}; -o - writes only a regular file");
        }
        using var content = fs.OpenContent(inode);
        using var stdout = Console.OpenStandardOutput();
        content.CopyTo(stdout, 1 << 16);
        return ExitCodes.Success;
    }
}
