using System.Buffers.Binary;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// sparsecopy -O qcow2 (plain, zlib- and zstd-compressed clusters) judged by qemu-img check/compare/info, and qcow2
/// images made by qemu-img (v2, v3, compressed, with a backing file) read back to the same raw bytes, sparse.
/// Damaged images fail with their exit code, a message naming the file, offset and field, and no output left.
/// </summary>
public sealed class ContainerTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-containers-");

    public void Dispose() => _dir.Dispose();

    /// <summary>A 96 MiB disk with 30 scattered extents, a 2 MiB run of one byte (compresses well) and data in its last sector.</summary>
    private string SourceDisk(string name = "src.raw")
    {
        const long size = 96L << 20;
        var extents = Enumerable.Range(0, 30).Select(i => ((long)i * 3_000_000 + i * 4096, 1000 + i * 9000)).ToList();
        extents.Add((size - 512, 512));
        var path = SparseFiles.Create(_dir.File(name), size, extents);
        using (var f = File.OpenWrite(path))
        {
            f.Position = 40L << 20;
            f.Write(Enumerable.Repeat((byte)'A', 2 << 20).ToArray());
        }
        return path;
    }

    private static string QemuImg(params string[] args)
    {
        var r = ExternalTools.Run("qemu-img", args);
        r.ExitCode.Should().Be(0, r.ToString());
        return r.StdOut;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("--compress")]
    [InlineData("--compress=zstd")]
    public void RawToQcow2_IsCleanIdenticalAndReportsItsSize(string? compress)
    {
        ExternalTools.Require("qemu-img");
        var source = SourceDisk();
        var dest = _dir.File("out.qcow2");
        string[] args = compress == null ? ["-O", "qcow2", source, dest] : ["-O", "qcow2", compress, source, dest];

        var summary = Json(args);

        QemuImg("check", "-f", "qcow2", dest).Should().Contain("No errors were found on the image.");
        QemuImg("compare", "-f", "raw", "-F", "qcow2", source, dest).Should().Contain("Images are identical.");
        var info = QemuImg("info", "--output=json", "-f", "qcow2", dest);
        info.Should().Contain("\"virtual-size\": 100663296").And.Contain("\"format\": \"qcow2\"");
        summary.GetProperty("container").GetString().Should().Be("qcow2");
        summary.GetProperty("virtualSize").GetInt64().Should().Be(96L << 20);
        summary.GetProperty("containerBytes").GetInt64().Should().Be(new FileInfo(dest).Length);
        if (compress != null)
        {
            info.Should().Contain(compress == "--compress" ? "\"compression-type\": \"zlib\"" : "\"compression-type\": \"zstd\"");
            QemuImg("check", "-f", "qcow2", dest).Should().Contain("compressed clusters").And.NotContain(" 0.00% compressed");
            // The run of 'A's compresses: the container is smaller than the data it holds.
            new FileInfo(dest).Length.Should().BeLessThan(summary.GetProperty("realBytes").GetInt64());
        }
        Leftovers(_dir.Path, "src.raw", "out.qcow2").Should().BeEmpty();
    }

    [Fact]
    public void RawToQcow2_SummaryLineNamesTheContainer()
    {
        var source = SourceDisk();
        var r = Run("-O", "qcow2", source, _dir.File("out.qcow2"));
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain($"sparsecopy: container raw -> qcow2, virtual size = {96L << 20}, container file {new FileInfo(_dir.File("out.qcow2")).Length} bytes");
    }

    [Theory]
    [InlineData("v3", new[] { "-O", "qcow2" })]
    [InlineData("v2", new[] { "-O", "qcow2", "-o", "compat=0.10" })]
    [InlineData("zlib", new[] { "-c", "-O", "qcow2" })]
    [InlineData("zstd", new[] { "-c", "-O", "qcow2", "-o", "compression_type=zstd" })]
    [InlineData("4k-clusters", new[] { "-O", "qcow2", "-o", "cluster_size=4096" })]
    public void QemuImgQcow2_ReadsBackToTheSameRawBytes_Sparse(string kind, string[] convertOptions)
    {
        ExternalTools.Require("qemu-img");
        var source = SourceDisk();
        var image = _dir.File($"{kind}.qcow2");
        QemuImg(["convert", "-f", "raw", .. convertOptions, source, image]);

        var summary = Json(image, _dir.File("back.raw"));

        FileFacts.Sha256(_dir.File("back.raw")).Should().Be(FileFacts.Sha256(source));
        FileFacts.AllocatedBytes(_dir.File("back.raw")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
        summary.GetProperty("sourceContainer").GetString().Should().Be("qcow2");
        // Only the image's allocated clusters (and tables) were read, never the virtual disk's holes.
        summary.GetProperty("bytesRead").GetInt64().Should().BeLessThanOrEqualTo(new FileInfo(image).Length);
    }

    [Fact]
    public void BackingFile_IsFollowedRelativeToTheImage_OrRefusedNamingIt()
    {
        ExternalTools.Require("qemu-img");
        var source = SourceDisk();
        var baseImage = _dir.File("base.qcow2");
        QemuImg("convert", "-f", "raw", "-O", "qcow2", source, baseImage);
        Directory.CreateDirectory(_dir.File("top"));
        var overlay = _dir.File("top/overlay.qcow2");
        QemuImg("create", "-f", "qcow2", "-b", "../base.qcow2", "-F", "qcow2", overlay);
        ExternalTools.Run("qemu-io", "-c", "write -P 0x5a 1M 192k", overlay).ExitCode.Should().Be(0);
        QemuImg("convert", "-f", "qcow2", "-O", "raw", overlay, _dir.File("expected.raw"));

        var r = Run(overlay, _dir.File("back.raw"));
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("back.raw")).Should().Be(FileFacts.Sha256(_dir.File("expected.raw")));

        File.Move(baseImage, _dir.File("elsewhere.qcow2"));
        var missing = Run(overlay, _dir.File("missing.raw"));
        missing.ExitCode.Should().Be(21, missing.ToString());
        missing.StdErr.Should().Contain("../base.qcow2").And.Contain("does not exist");
        File.Exists(_dir.File("missing.raw")).Should().BeFalse();
    }

    [Fact]
    public void Qcow2ToStdout_IsRefusedBeforeAnythingIsWritten()
    {
        var source = SourceDisk();
        var r = Run("-O", "qcow2", source, "-");
        r.ExitCode.Should().Be(1, r.ToString());
        r.StdErr.Should().Contain("seek");
        r.StdOut.Should().BeEmpty();
    }

    [Fact]
    public void CompressWithoutAContainer_IsRefused()
    {
        var source = SourceDisk();
        var r = Run("--compress", source, _dir.File("out.raw"));
        r.ExitCode.Should().Be(1, r.ToString());
        r.StdErr.Should().Contain("--compress needs -O qcow2");
        File.Exists(_dir.File("out.raw")).Should().BeFalse();
    }

    public enum Damage { Truncated, L1EntryPastEnd, L2EntryPastEnd, OverlappingClusters, Encrypted, ExternalDataFile, UnknownFeature, BadClusterBits }

    [Theory]
    [InlineData(Damage.Truncated, 17, "truncated")]
    [InlineData(Damage.L1EntryPastEnd, 17, "L1 entry 0")]
    [InlineData(Damage.L2EntryPastEnd, 17, "past the end of the file")]
    [InlineData(Damage.OverlappingClusters, 17, "overlapping clusters")]
    [InlineData(Damage.Encrypted, 20, "encrypted")]
    [InlineData(Damage.ExternalDataFile, 20, "external data file")]
    [InlineData(Damage.UnknownFeature, 20, "incompatible features")]
    [InlineData(Damage.BadClusterBits, 17, "cluster_bits at offset 20")]
    public void DamagedQcow2_FailsWithItsExitCode_NamingFileAndOffset_LeavingNoOutput(Damage damage, int exitCode, string expected)
    {
        ExternalTools.Require("qemu-img");
        var source = SourceDisk();
        var image = _dir.File("damaged.qcow2");
        QemuImg("convert", "-f", "raw", "-O", "qcow2", source, image);
        var bytes = File.ReadAllBytes(image);
        var l1Offset = (int)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(40));
        var l2Offset = (int)(BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(l1Offset)) & 0x00FF_FFFF_FFFF_FE00UL);
        // The first two allocated L2 entries.
        var entries = Enumerable.Range(0, 8192).Select(i => l2Offset + i * 8).Where(o => BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(o)) != 0).Take(2).ToList();
        switch (damage)
        {
            case Damage.Truncated:
                bytes = bytes[..(bytes.Length / 2)];
                break;
            case Damage.L1EntryPastEnd:
                BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(l1Offset), (1UL << 63) | (ulong)(bytes.Length + (1 << 20)) / 65536 * 65536);
                break;
            case Damage.L2EntryPastEnd:
                BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(entries[0]), (1UL << 63) | (ulong)(bytes.Length + (1 << 20)) / 65536 * 65536);
                break;
            case Damage.OverlappingClusters:
                bytes.AsSpan(entries[0], 8).CopyTo(bytes.AsSpan(entries[1]));
                break;
            case Damage.Encrypted:
                BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(32), 1);
                break;
            case Damage.ExternalDataFile:
                bytes[79] |= 4;
                break;
            case Damage.UnknownFeature:
                bytes[72] |= 0x80;
                break;
            case Damage.BadClusterBits:
                BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), 40);
                break;
        }
        File.WriteAllBytes(image, bytes);

        var r = Run(image, _dir.File("out.raw"));

        r.ExitCode.Should().Be(exitCode, r.ToString());
        r.StdErr.Should().Contain(image).And.Contain(expected);
        if (damage is not (Damage.Encrypted or Damage.ExternalDataFile or Damage.UnknownFeature))
        {
            r.StdErr.Should().MatchRegex("offset [0-9]+");
        }
        Leftovers(_dir.Path, "src.raw", "damaged.qcow2").Should().BeEmpty();
    }
    [Fact]
    public void RawToFixedVhd_ForAzure_WholeMiBFooterSparse_IdenticalToTheSource()
    {
        ExternalTools.Require("qemu-img");
        // 100,000,000 bytes: not a whole MiB, so the VHD's disk is rounded up to 96 MiB (100,663,296 bytes).
        var source = SparseFiles.Create(_dir.File("odd.raw"), 100_000_000, [(5000, 700), (99_999_000, 1000)]);
        var dest = _dir.File("azure.vhd");

        var summary = Json("-O", "vhd", source, dest);

        const long rounded = 96L << 20;
        summary.GetProperty("container").GetString().Should().Be("vhd");
        summary.GetProperty("virtualSize").GetInt64().Should().Be(rounded);
        new FileInfo(dest).Length.Should().Be(rounded + 512, "a fixed VHD is the disk and a 512-byte footer");
        FileFacts.AllocatedBytes(dest).Should().BeLessThan(1 << 20, "the disk's holes stay holes");
        var info = QemuImg("info", "--output=json", "-f", "vpc", dest);
        info.Should().Contain($"\"virtual-size\": {rounded}").And.Contain("\"format\": \"vpc\"");
        // The source padded with zeros to the rounded size is what the VHD holds.
        File.Copy(source, _dir.File("padded.raw"));
        using (var f = File.OpenWrite(_dir.File("padded.raw")))
        {
            f.SetLength(rounded);
        }
        QemuImg("compare", "-f", "raw", "-F", "vpc", _dir.File("padded.raw"), dest).Should().Contain("Images are identical.");

        // And back: sparsecopy recognises the footer.
        var back = Json(dest, _dir.File("back.raw"));
        back.GetProperty("sourceContainer").GetString().Should().Be("vhd");
        FileFacts.Sha256(_dir.File("back.raw")).Should().Be(FileFacts.Sha256(_dir.File("padded.raw")));
    }

    [Fact]
    public void QemuImgFixedVhd_ReadsBack_DynamicIsRefusedClearly_DamagedFooterIsCorrupt()
    {
        ExternalTools.Require("qemu-img");
        var source = SourceDisk();
        QemuImg("convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", source, _dir.File("fixed.vhd"));
        var r = Run(_dir.File("fixed.vhd"), _dir.File("back.raw"));
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("back.raw")).Should().Be(FileFacts.Sha256(source));

        QemuImg("convert", "-f", "raw", "-O", "vpc", source, _dir.File("dynamic.vhd"));
        var dynamic = Run(_dir.File("dynamic.vhd"), _dir.File("dyn.raw"));
        dynamic.ExitCode.Should().Be(20, dynamic.ToString());
        dynamic.StdErr.Should().Contain("dynamic VHD").And.Contain("dynamic.vhd");
        File.Exists(_dir.File("dyn.raw")).Should().BeFalse();

        var bytes = File.ReadAllBytes(_dir.File("fixed.vhd"));
        bytes[bytes.Length - 512 + 48] ^= 0x40; // current size, so the checksum no longer matches
        File.WriteAllBytes(_dir.File("damaged.vhd"), bytes);
        var damaged = Run(_dir.File("damaged.vhd"), _dir.File("dmg.raw"));
        damaged.ExitCode.Should().Be(17, damaged.ToString());
        damaged.StdErr.Should().Contain("damaged.vhd").And.Contain("footer checksum at offset");
        File.Exists(_dir.File("dmg.raw")).Should().BeFalse();
    }
}
