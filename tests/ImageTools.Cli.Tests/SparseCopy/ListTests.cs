using System.Text.Json;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// <c>sparsecopy --list</c> against <c>sfdisk -l</c> and <c>sfdisk -J</c> on tables sfdisk made: every field of
/// every partition, the disk's lines, GPT, compressed images, and damaged tables (listed with their problems).
/// </summary>
[Trait("Category", "AotSmoke")]
public sealed class ListTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-list-");

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// A 3 GiB sparse disk: a 1-sector and a bootable 3-sector primary, an extended partition with logical
    /// partitions of sizes that exercise sfdisk's size rounding (4095 sectors is "2M", 2047 is "1023.5K"), a 1.5 GiB
    /// one, and types with long names.
    /// </summary>
    private string ManyPartitions() => DiskImages.Create(_dir.File("disk.img"), 3L << 30, """
        label: dos
        label-id: 0x5eed0001
        2048,1,83
        ,3,82,*
        ,,5
        ,4095,c
        size=2047, type=7
        size=2049, type=ef
        size=4097, type=83
        size=40000, type=8e
        size=3145727, type=83
        size=20480, type=fd
        """);

    private string Gpt() => DiskImages.Create(_dir.File("gpt.img"), 50L << 20, """
        label: gpt
        label-id: 1016169E-02FF-1342-8A2B-B3D29C95EEF3
        size=10M, type=L, name=root
        size=5M, type=S, attrs=LegacyBIOSBootable
        size=4097, type=U, name="EFI system"
        type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
        """);

    private static SfdiskListing Ours(params string[] args)
    {
        var r = Run(["--list", .. args]);
        r.ExitCode.Should().Be(0, r.ToString());
        return SfdiskListing.Parse(r.StdOut);
    }

    private static void RowsShouldMatch(SfdiskListing ours, SfdiskListing sfdisk, string[] columns, Func<string, string>? device = null)
    {
        ours.Rows.Should().HaveCount(sfdisk.Rows.Count);
        for (var i = 0; i < sfdisk.Rows.Count; i++)
        {
            foreach (var column in columns)
            {
                var theirs = sfdisk.Rows[i][column];
                if (column == "Device" && device != null)
                {
                    theirs = device(theirs);
                }
                ours.Rows[i][column].Should().Be(theirs, $"column {column} of row {i + 1} ({sfdisk.Rows[i]["Device"]})");
            }
        }
    }

    [Fact]
    public void Mbr_listing_matches_sfdisk_l_field_by_field()
    {
        var image = ManyPartitions();
        var sfdisk = Sfdisk.List(image);

        var ours = Ours(image);

        ours.Columns.Should().Equal("Device", "Boot", "Start", "End", "Sectors", "Size", "Id", "Type");
        RowsShouldMatch(ours, sfdisk, ["Device", "Boot", "Start", "End", "Sectors", "Size", "Id", "Type"]);
        foreach (var line in new[] { "Disk ", "Units:", "Disklabel type:", "Disk identifier:" })
        {
            ours.Header(line).Should().Be(sfdisk.Header(line));
        }
        ours.TrailingLines.Should().BeEmpty("a sound table has no problems to report");
    }

    [Fact]
    public void Mbr_json_matches_sfdisk_J()
    {
        var image = ManyPartitions();
        var sfdisk = Sfdisk.Json(image);
        var r = Run("--list", "--json", image);
        r.ExitCode.Should().Be(0, r.ToString());
        var table = JsonDocument.Parse(r.StdOut).RootElement.GetProperty("partitiontable");

        table.GetProperty("label").GetString().Should().Be(sfdisk.Label);
        table.GetProperty("id").GetString().Should().Be(sfdisk.Id);
        table.GetProperty("device").GetString().Should().Be(image);
        table.GetProperty("unit").GetString().Should().Be("sectors");
        table.GetProperty("sectorsize").GetInt32().Should().Be(512);
        table.GetProperty("disksize").GetInt64().Should().Be(3L << 30);
        table.GetProperty("problems").GetArrayLength().Should().Be(0);
        var partitions = table.GetProperty("partitions").EnumerateArray().ToList();
        partitions.Should().HaveCount(sfdisk.Partitions.Count);
        var sfdiskList = Sfdisk.List(image);
        for (var i = 0; i < partitions.Count; i++)
        {
            var p = partitions[i];
            var s = sfdisk.Partitions[i];
            p.GetProperty("node").GetString().Should().Be(image + s.Number);
            p.GetProperty("number").GetInt32().Should().Be(s.Number);
            p.GetProperty("start").GetInt64().Should().Be(s.Start);
            p.GetProperty("size").GetInt64().Should().Be(s.Size);
            p.GetProperty("end").GetInt64().Should().Be(s.Start + s.Size - 1);
            p.GetProperty("bytes").GetInt64().Should().Be(s.Size * 512);
            p.GetProperty("type").GetString().Should().Be(s.Type);
            p.GetProperty("bootable").GetBoolean().Should().Be(s.Bootable);
            p.GetProperty("typename").GetString().Should().Be(sfdiskList.Rows[i]["Type"]);
            p.GetProperty("kind").GetString().Should().Be(s.Type == "5" ? "extended" : s.Number >= 5 ? "logical" : "primary");
        }
    }

    [Fact]
    public void Gpt_is_listed_as_gpt_with_its_entries_as_sfdisk_shows_them()
    {
        var image = Gpt();
        string[] columns = ["Device", "Start", "End", "Sectors", "Size", "Type", "Type-UUID", "Name"];
        var sfdisk = Sfdisk.List(image, string.Join(',', columns));

        var ours = Ours(image);

        ours.Header("Disklabel type:").Should().Be("Disklabel type: gpt");
        ours.Header("Disk identifier:").Should().Be(sfdisk.Header("Disk identifier:"));
        RowsShouldMatch(ours, sfdisk, columns);
        ours.Rows.Select(r => r["Boot"]).Should().Equal(new List<string> { "", "*", "", "" }, "the LegacyBIOSBootable attribute is GPT's boot flag");

        var json = JsonDocument.Parse(Run("--list", "--json", image).StdOut).RootElement.GetProperty("partitiontable");
        var reference = Sfdisk.Json(image);
        json.GetProperty("label").GetString().Should().Be("gpt");
        json.GetProperty("id").GetString().Should().Be(reference.Id);
        json.GetProperty("firstlba").GetInt64().Should().Be(reference.FirstLba);
        json.GetProperty("lastlba").GetInt64().Should().Be(reference.LastLba);
        var partitions = json.GetProperty("partitions").EnumerateArray().ToList();
        partitions.Select(p => p.GetProperty("type").GetString()).Should().Equal(reference.Partitions.Select(p => p.Type));
        partitions.Select(p => p.GetProperty("uuid").GetString()).Should().Equal(reference.Partitions.Select(p => p.Uuid));
        partitions.Select(p => p.TryGetProperty("name", out var n) ? n.GetString() : null).Should().Equal(reference.Partitions.Select(p => p.Name));
        partitions.Select(p => p.GetProperty("start").GetInt64()).Should().Equal(reference.Partitions.Select(p => p.Start));
        partitions.Select(p => p.GetProperty("size").GetInt64()).Should().Equal(reference.Partitions.Select(p => p.Size));
    }

    [Fact]
    public void A_compressed_image_lists_the_same_table()
    {
        var image = DiskImages.Create(_dir.File("small.img"), 64L << 20, """
            label: dos
            2048,20480,83,*
            ,,5
            ,4097,82
            ,,83
            """, DiskImages.Scattered(1 << 20, 64L << 20));
        var plain = Ours(image);
        var gz = DiskImages.Compress(image, "gzip");

        var compressed = Ours(gz);

        compressed.Rows.Select(r => r.Values.Skip(1)).Should().BeEquivalentTo(plain.Rows.Select(r => r.Values.Skip(1)), o => o.WithStrictOrdering());
        compressed.Header("Disk ").Should().Contain("size unknown");
        compressed.Header("Disk identifier:").Should().Be(plain.Header("Disk identifier:"));
    }

    [Fact]
    public void Overlapping_partitions_are_listed_with_the_problem()
    {
        var image = DiskImages.Create(_dir.File("overlap.img"), 32L << 20, """
            label: dos
            2048,20480,83
            ,20480,83
            """);
        // Start partition 2 inside partition 1: sfdisk never writes that, a damaged disk may hold it.
        DiskImages.PokeUInt32(image, 0x1BE + 16 + 8, 10000);

        var r = Run("--list", image);

        r.ExitCode.Should().Be(0, r.ToString());
        var listing = SfdiskListing.Parse(r.StdOut);
        listing.Rows.Select(row => row["Start"]).Should().Equal("2048", "10000");
        listing.TrailingLines.Should().Contain("The partition table has problems:")
            .And.Contain(l => l.Contains("partition 1 (sectors 2048-22527) and partition 2 (sectors 10000-30479) overlap on sectors 10000-22527"));

        var json = JsonDocument.Parse(Run("--list", "--json", image).StdOut).RootElement.GetProperty("partitiontable");
        json.GetProperty("problems").EnumerateArray().Select(p => p.GetString()).Should().ContainMatch("*overlap on sectors 10000-22527*");
    }

    [Fact]
    public void A_looping_EBR_chain_lists_the_partitions_before_the_loop_and_says_where_it_loops()
    {
        var image = DiskImages.Create(_dir.File("loop.img"), 64L << 20, """
            label: dos
            2048,20480,83
            ,,5
            ,10000,83
            ,10000,83
            ,,83
            """);
        var logical6 = DiskImages.Partition(image, 6);
        var extendedStart = DiskImages.Partition(image, 2).Start;
        // The EBR of partition 6 sits one grain before it; point its link back at the first EBR.
        var ebr6 = logical6.Start - 2048;
        DiskImages.PokeUInt32(image, ebr6 * 512 + 0x1BE + 16 + 8, 0);

        var r = Run("--list", image);

        r.ExitCode.Should().Be(0, r.ToString());
        var listing = SfdiskListing.Parse(r.StdOut);
        listing.Rows.Select(row => row["Device"]).Should().Equal(image + "1", image + "2", image + "5", image + "6");
        listing.TrailingLines.Should().Contain(l => l.Contains("loops") && l.Contains($"links to sector {extendedStart}"));

        // Copying needs a sound chain: the same damage is an error there.
        var copy = Run("--partition", "6", image, _dir.File("p6.img"));
        copy.ExitCode.Should().Be(19, copy.ToString());
        copy.StdErr.Should().Contain("loops");
        File.Exists(_dir.File("p6.img")).Should().BeFalse();
    }

    [Fact]
    public void No_partition_table_is_exit_19()
    {
        var image = SparseFiles.Create(_dir.File("blank.img"), 1 << 20, [(0, 100)]);
        var r = Run("--list", image);
        r.ExitCode.Should().Be(19, r.ToString());
        r.StdErr.Should().Contain(image).And.Contain("no partition table").And.Contain("0x55AA");
    }

    [Fact]
    public void A_pipe_cannot_be_listed_and_says_why()
    {
        var image = ManyPartitions();
        var r = ProcessRunner.Shell($"cat '{image}' | '{TestSupport.Cli.PathOf("sparsecopy")}' --list -");
        r.ExitCode.Should().Be(20, r.ToString());
        r.StdErr.Should().Contain("pipe").And.Contain("save the image to a file first");

        // Redirected from the file, stdin is random access and lists like the file.
        var redirected = ProcessRunner.Shell($"'{TestSupport.Cli.PathOf("sparsecopy")}' --list - < '{image}'");
        redirected.ExitCode.Should().Be(0, redirected.ToString());
        SfdiskListing.Parse(redirected.StdOut).Rows.Select(r => r["Start"]).Should().Equal(Ours(image).Rows.Select(r => r["Start"]));
    }

    [Theory]
    [InlineData(new[] { "--list" }, "--list needs the IMAGE")]
    [InlineData(new[] { "--list", "a", "b" }, "--list takes one path")]
    [InlineData(new[] { "--list", "--partition", "1", "a" }, "--partition belong to a copy")]
    [InlineData(new[] { "--partition", "0", "a", "b" }, "--partition '0': give a partition number")]
    [InlineData(new[] { "--to-partition", "x", "a", "b" }, "--to-partition 'x'")]
    [InlineData(new[] { "--create-bmap", "m.bmap" }, "--create-bmap needs the IMAGE")]
    [InlineData(new[] { "--list", "--create-bmap", "m.bmap", "a" }, "two different jobs")]
    public void Bad_partition_and_bmap_arguments_are_exit_1(string[] args, string message)
    {
        var r = Run(args);
        r.ExitCode.Should().Be(1, r.ToString());
        r.StdErr.Should().Contain(message);
    }
}
