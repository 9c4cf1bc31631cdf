using System.Formats.Tar;
using System.IO.Compression;
using FluentAssertions;
using ImageTools.TestSupport;
using SharpCompress.Compressors.BZip2;
using Xunit;

namespace ImageTools.Core.Tests.Ext.Reader;

/// <summary>
/// Every image of ../shared/corpus/e2fsprogs (damaged and unusual filesystems from e2fsprogs' own test
/// suite) is decompressed to a temporary sparse file, opened, inspected and fully exported, within a
/// time bound: it either succeeds or fails with an ImageToolsException naming the image. Never a crash,
/// a hang, or another exception type.
/// </summary>
public sealed class CorpusRobustnessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public static TheoryData<string> CorpusFiles()
    {
        var corpus = TestPaths.SharedCorpus;
        var folder = corpus == null ? null : Path.Combine(corpus, "e2fsprogs");
        if (folder == null || !Directory.Exists(folder))
        {
            return new TheoryData<string>("(corpus absent)");
        }
        return new TheoryData<string>(Directory.GetFiles(folder)
            .Select(Path.GetFileName)
            .Where(n => n!.EndsWith(".gz", StringComparison.Ordinal) || n.EndsWith(".bz2", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)!);
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Corpus_image_is_read_or_refused_with_a_clear_error(string file)
    {
        var corpus = TestPaths.RequireSharedCorpus();
        var source = Path.Combine(corpus, "e2fsprogs", file);
        if (!File.Exists(source))
        {
            Assert.Skip($"{source} is absent (the e2fsprogs corpus is not beside this clone)");
        }
        using var temp = new TempDirectory("imagetools-corpus-");
        foreach (var image in Decompress(source, temp.Path))
        {
            var outcome = Robustness.Check(() => File.OpenRead(image), image, Bound);
            output.WriteLine(outcome.ToString());
            File.Delete(image);
        }
    }

    /// <summary>Decompresses one corpus file into sparse files (zero runs are skipped, not written); a .tar.bz2 gives each member.</summary>
    private static IEnumerable<string> Decompress(string source, string folder)
    {
        var name = Path.GetFileName(source);
        if (name.EndsWith(".tar.bz2", StringComparison.Ordinal))
        {
            var results = new List<string>();
            using var compressed = File.OpenRead(source);
            using var bz = BZip2Stream.Create(compressed, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false);
            using var tar = new TarReader(bz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream == null)
                {
                    continue;
                }
                var target = Path.Combine(folder, Path.GetFileName(entry.Name));
                WriteSparse(entry.DataStream, target);
                results.Add(target);
            }
            return results;
        }
        var output = Path.Combine(folder, Path.GetFileNameWithoutExtension(name));
        using (var compressed = File.OpenRead(source))
        using (Stream decompressor = name.EndsWith(".gz", StringComparison.Ordinal)
                   ? new GZipStream(compressed, CompressionMode.Decompress)
                   : BZip2Stream.Create(compressed, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false))
        {
            WriteSparse(decompressor, output);
        }
        return new[] { output };
    }

    private static void WriteSparse(Stream input, string path)
    {
        var buffer = new byte[64 * 1024];
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        long length = 0;
        while (true)
        {
            var n = input.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            if (n == 0)
            {
                break;
            }
            if (buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) < 0)
            {
                file.Seek(n, SeekOrigin.Current);
            }
            else
            {
                file.Write(buffer, 0, n);
            }
            length += n;
        }
        file.SetLength(length);
    }

    [Fact]
    public void The_corpus_is_complete_when_present()
    {
        var corpus = TestPaths.RequireSharedCorpus();
        var manifest = Path.Combine(corpus, "e2fsprogs", "MANIFEST.tsv");
        if (!File.Exists(manifest))
        {
            Assert.Skip("the e2fsprogs corpus has no MANIFEST.tsv here");
        }
        var listed = File.ReadAllLines(manifest).Skip(1).Select(l => l.Split('\t')[4]).ToList();
        CorpusFiles().Select(row => (string)row.Data).Should().BeEquivalentTo(listed, "every file of the manifest is tested");
    }
}
