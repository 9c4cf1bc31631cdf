using FluentAssertions;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Imaging;

/// <summary>
/// Inspection describes damaged images instead of failing on them: a bootable hybrid ISO (volume
/// descriptors, El Torito catalog, MBR) and an MBR disk with an ext partition, with bytes of their
/// headers overwritten at random (fixed seeds), are each inspected without any exception and within
/// a time bound.
/// </summary>
public sealed class InspectorRobustnessTests
{
    private const int Cases = 400;

    [Fact]
    public void A_damaged_hybrid_iso_is_described_not_failed_on()
    {
        using var temp = new TempDirectory();
        var source = temp.File("iso");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "a.txt"), "a");
        File.WriteAllBytes(Path.Combine(source, "boot.img"), new byte[2048]);
        var part = temp.File("part.img");
        File.WriteAllBytes(part, new byte[1 << 20]);
        var iso = temp.File("hybrid.iso");
        var r = ProcessRunner.Run(ExternalTools.Require("xorriso"), "-as", "mkisofs", "-quiet", "-V", "FUZZ", "-b", "boot.img", "-no-emul-boot",
            "-append_partition", "2", "0x83", part, "-o", iso, source);
        r.ExitCode.Should().Be(0, r.ToString());
        var bytes = File.ReadAllBytes(iso);
        var pristine = ImageInspector.InspectContent(new MemoryStream(bytes), "hybrid.iso", cancellationToken: TestContext.Current.CancellationToken);
        pristine.Formats.Should().Equal("iso9660", "mbr");
        var catalog = (int)(BitConverter.ToUInt32(bytes, 16 * 2048 + 2048 + 0x47) * 2048);
        // The MBR (sector 0), the volume descriptors (sectors 16-19) and the boot catalog.
        var hot = new[] { (0, 512), (16 * 2048, 4 * 2048), (catalog, 2048) };
        Fuzz(bytes, hot, "hybrid.iso", seed: 9660);
    }

    [Fact]
    public void A_damaged_partition_table_is_described_not_failed_on()
    {
        using var temp = new TempDirectory();
        var disk = temp.File("disk.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(24 << 20);
        }
        Sfdisk.Apply(disk, "label: dos\nstart=2048, size=16384, type=83\nstart=20480, size=8192, type=5\nstart=22528, size=4096, type=83\n");
        var tree = temp.File("tree");
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        File.WriteAllBytes(Path.Combine(tree, "boot/vmlinuz-6.1.0-1-amd64"), new byte[3000]);
        var fs = ExtImages.Make(temp.File("fs.img"), "ext2", 1024, tree, "8M");
        var dd = ProcessRunner.Run("dd", $"if={fs}", $"of={disk}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none");
        dd.ExitCode.Should().Be(0, dd.ToString());
        var bytes = File.ReadAllBytes(disk);
        ImageInspector.InspectContent(new MemoryStream(bytes), "disk.img", cancellationToken: TestContext.Current.CancellationToken).PartitionTable!.Partitions.Select(p => p.Number).Should().Equal(1, 2, 5);
        // The MBR, the first EBR, and the ext superblock of partition 1.
        var hot = new[] { (0, 512), (20480 * 512, 512), (2048 * 512 + 1024, 1024) };
        Fuzz(bytes, hot, "disk.img", seed: 512);
    }

    private static void Fuzz(byte[] bytes, (int Start, int Length)[] hot, string name, int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < Cases; i++)
        {
            var changes = new List<(int Offset, byte Original)>();
            for (var c = random.Next(1, 5); c > 0; c--)
            {
                var (start, length) = hot[random.Next(hot.Length)];
                var offset = start + random.Next(length);
                changes.Add((offset, bytes[offset]));
                bytes[offset] = random.Next(3) switch
                {
                    0 => (byte)(bytes[offset] ^ (1 << random.Next(8))),
                    1 => 0xFF,
                    _ => (byte)random.Next(256),
                };
            }
            ContentReport? report = null;
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try
                {
                    report = ImageInspector.InspectContent(new MemoryStream(bytes, writable: false), $"{name} case {i}");
                    _ = ImageReportFormatter.ToText(new ImageReport { Path = name, SizeBytes = bytes.Length, Content = report });
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            thread.Start();
            thread.Join(TimeSpan.FromSeconds(30)).Should().BeTrue($"{name} case {i} finishes");
            failure.Should().BeNull($"{name} case {i} (seed {seed}) is described, not failed on: {failure}");
            (report!.Formats.Count > 0 || report.Unrecognised != null).Should().BeTrue();
            for (var c = changes.Count - 1; c >= 0; c--)
            {
                bytes[changes[c].Offset] = changes[c].Original;
            }
        }
    }
}
