using System.Globalization;
using System.Text.RegularExpressions;
using FluentAssertions;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Writer.WriterTestKit;

namespace ImageTools.Core.Tests.Ext.Writer;

/// <summary>
/// The ext4 writer against e2fsprogs: the features of <c>mke2fs -t ext4</c> in dumpe2fs, e2fsck -fn
/// clean and an e2fsck -fy fixpoint, debugfs reading back what went in, extent trees of depth &gt; 0,
/// resize2fs growing the image, identical bytes under one SOURCE_DATE_EPOCH, and -O edits.
/// </summary>
public class Ext4WriterTests
{
    private const long MiB = 1024 * 1024;

    private const string Mke2fsExt4Features =
        "has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum";

    private static string Features(string image) => ExtImageChecks.SuperblockFields(image)["Filesystem features"];

    [Theory]
    [InlineData(1024, 16L, null)]
    [InlineData(4096, 64L, null)]
    [InlineData(1024, 200L, null)] // 25 groups of 8 MiB: a flex group's inode tables spill into the next group
    [InlineData(4096, 1024L, null)]
    [InlineData(4096, 8192L, null)]
    [InlineData(4096, 256L, "^metadata_csum")]
    [InlineData(4096, 256L, "^64bit")]
    [InlineData(1024, 64L, "^flex_bg")]
    [InlineData(4096, 256L, "^metadata_csum,^64bit,^flex_bg")]
    [InlineData(4096, 64L, "^has_journal")]
    public void Ext4_images_have_the_features_asked_for_and_pass_e2fsck(int blockSize, long sizeMiB, string? edits)
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var options = new ExtFilesystemOptions
        {
            Type = ExtFilesystemType.Ext4,
            BlockSize = blockSize,
            SizeBytes = sizeMiB * MiB,
            Features = edits == null ? Ext4Features.Default : ExtFeatureEdits.Apply(Ext4Features.Default, edits),
        };
        Build(new EntryListSource(ExtWriterTests.RichTree(blockSize, small: true)), image, options);

        var expected = Mke2fsExt4Features.Split(' ').ToList();
        foreach (var off in (edits ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            expected.Remove(off.TrimStart('^'));
        }
        Features(image).Should().Be(string.Join(' ', expected));
        AssertClean(image); // e2fsck -fn silent; e2fsck -fy changes only the check times and s_checksum
    }

    [Theory]
    [InlineData(1024, 32L)]
    [InlineData(4096, 128L)]
    public void What_goes_in_comes_out_of_ext4(int blockSize, long sizeMiB)
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = ExtWriterTests.RichTree(blockSize);
        // A sparse file of 12 data runs: more than i_block's 4 extents, so the tree gets a leaf block.
        entries.Add(SparseFile("many-runs", 48L << 20, Enumerable.Range(0, 12).Select(i => i * (4L << 20)).ToArray()));
        var options = new ExtFilesystemOptions { Type = ExtFilesystemType.Ext4, BlockSize = blockSize, SizeBytes = sizeMiB * MiB };
        Build(new EntryListSource(entries), image, options);
        AssertClean(image); // e2fsck -fn silent; e2fsck -fy changes only the check times and s_checksum
        VerifyEntries(image, entries.Where(e => !e.Path.StartsWith("many/", StringComparison.Ordinal) || e.Path.EndsWith("00", StringComparison.Ordinal)).ToList(), options);

        // Extents: the 5 GiB file is two data runs in i_block and nothing for its hole.
        var huge = ExtImageChecks.Stat(image, "/huge-5g");
        huge.Size.Should().Be(5UL << 30);
        huge.BlockCount.Should().Be(2 * 4096 / 512, "two 4 KiB runs, mapped in i_block, and the hole costs nothing");
        ExtImageChecks.Stat(image, "/huge-5g").Flags.Should().Be("0x80000", "EXT4_EXTENTS_FL");

        // Twelve runs: depth 1 (debugfs 'ex' lists a level-0 index and the 12 leaf extents).
        var ex = ExtImageChecks.Debugfs(image, "ex /many-runs");
        Regex.Matches(ex, @"^\s*0/\s*1\s", RegexOptions.Multiline).Should().HaveCount(1, ex);
        Regex.Matches(ex, @"^\s*1/\s*1\s", RegexOptions.Multiline).Should().HaveCount(12, ex);
        var st = ExtImageChecks.Stat(image, "/many-runs");
        st.BlockCount.Should().Be((12L * 4096 / blockSize + 1) * (blockSize / 512), "12 data blocks' worth of runs and one leaf block");
        Sha(ExtImageChecks.Dump(image, "/many-runs")).Should().Be(Sha(ReadAll(entries[^1].Content!)));

        ExtImageChecks.Stat(image, "/many").Flags.Should().Be("0x81000", "an htree directory mapped by extents");
        ExtImageChecks.List(image, "/many").Should().HaveCount(600);
    }

    [Fact]
    public void Same_epoch_gives_identical_ext4_bytes_and_resize2fs_grows_it()
    {
        using var dir = new TempDirectory();
        var a = dir.File("a.img");
        var b = dir.File("b.img");
        var options = new ExtFilesystemOptions { Type = ExtFilesystemType.Ext4, SizeBytes = 64 * MiB, SourceDateEpoch = 1_700_000_000 };
        var entries = ExtWriterTests.RichTree(4096, small: true);
        var ra = new ExtFilesystemBuilder(options).BuildImageFile(new EntryListSource(entries), a, TestContext.Current.CancellationToken);
        var rb = new ExtFilesystemBuilder(options).BuildImageFile(new EntryListSource(entries), b, TestContext.Current.CancellationToken);
        ra.Uuid.Should().Be(rb.Uuid);
        ra.HashSeed.Should().Be(rb.HashSeed);
        FileFacts.Sha256(a).Should().Be(FileFacts.Sha256(b), "one input and one SOURCE_DATE_EPOCH give one image");

        // Room to grow, as cloud images are grown at first boot: resize2fs uses the reserved GDT blocks.
        var resize = ProcessRunner.Run(ExternalTools.Require("resize2fs"), [a, "2G"]);
        resize.ExitCode.Should().Be(0, resize.ToString());
        var fields = ExtImageChecks.SuperblockFields(a);
        long.Parse(fields["Block count"], CultureInfo.InvariantCulture).Should().Be(2L * 1024 * MiB / ra.BlockSize);
        var (exit, problems, output) = ExtImageChecks.Fsck(a);
        exit.Should().Be(0, output);
        problems.Should().BeEmpty(output);
        Sha(ExtImageChecks.Dump(a, "/bin/sh")).Should().Be(Sha(ReadAll(entries.Single(e => e.Path == "bin/sh").Content!)));
    }

    [Theory]
    [InlineData("^bogus", "bogus")]
    [InlineData("^extent", "cannot be turned off")]
    [InlineData("inline_data", "inline_data")]
    public void Unknown_or_fixed_features_are_a_clear_error(string edits, string expected)
    {
        var act = () => ExtFeatureEdits.Apply(Ext4Features.Default, edits);
        act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain(expected).And.Contain("metadata_csum");
    }

    [Fact]
    public void Feature_edits_turn_off_what_they_name()
    {
        ExtFeatureEdits.Apply(Ext4Features.Default, "^metadata_csum,^64bit ^flex_bg")
            .Should().Be(Ext4Features.Default & ~(Ext4Features.MetadataCsum | Ext4Features.SixtyFourBit | Ext4Features.FlexBg));
        ExtFeatureEdits.Apply(Ext4Features.Default, "extent,sparse_super,+64bit").Should().Be(Ext4Features.Default);
    }
}
