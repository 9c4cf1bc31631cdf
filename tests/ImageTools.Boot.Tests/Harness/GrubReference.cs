using System.Buffers.Binary;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>A core.img taken apart along the boundaries read from its own fields.</summary>
/// <param name="DiskBoot">The first 512 bytes.</param>
/// <param name="Decompressor">lzma_decompress.img as patched.</param>
/// <param name="Stream">The LZMA stream, exactly as long as the decompressor's compressed-size field says.</param>
public sealed record CoreImageParts(byte[] DiskBoot, byte[] Decompressor, byte[] Stream, uint CompressedSizeField, uint UncompressedSizeField, uint ReedSolomonField)
{
    public static CoreImageParts Split(byte[] core, int decompressorLength)
    {
        var diskBoot = core[..512];
        var decompressor = core[512..(512 + decompressorLength)];
        uint compressed = BinaryPrimitives.ReadUInt32LittleEndian(decompressor.AsSpan(0x08));
        uint uncompressed = BinaryPrimitives.ReadUInt32LittleEndian(decompressor.AsSpan(0x0C));
        uint rs = BinaryPrimitives.ReadUInt32LittleEndian(decompressor.AsSpan(0x10));
        var stream = core[(512 + decompressorLength)..];
        return new CoreImageParts(diskBoot, decompressor, stream, compressed, uncompressed, rs);
    }

    /// <summary>
    /// The payload, decoded by xz (an LZMA implementation independent of ours) as a raw LZMA1 stream with
    /// GRUB's lc=3 lp=0 pb=2. GRUB's streams have no end marker, so xz reports "Unexpected end of input"
    /// after writing everything; that one complaint is accepted when the output has the expected length.
    /// </summary>
    public byte[] DecodePayloadWithXz()
    {
        var xz = ExternalTools.Require("xz");
        var r = ProcessRunner.Run(xz, ["-dc", "--format=raw", "--lzma1=lc=3,lp=0,pb=2"], new MemoryStream(Stream));
        bool cleanEnd = r.ExitCode == 0;
        bool endWithoutMarker = r.ExitCode == 1 && r.StdErr.Contains("Unexpected end of input", StringComparison.Ordinal);
        if (!(cleanEnd || endWithoutMarker) || r.StdOutBytes.Length < UncompressedSizeField)
        {
            throw new InvalidOperationException($"xz could not decode the {Stream.Length}-byte stream to {UncompressedSizeField} bytes: {r}");
        }
        return r.StdOutBytes[..(int)UncompressedSizeField];
    }
}

/// <summary>Runs GRUB's own tools to make the references our output is compared with.</summary>
public static class GrubReference
{
    /// <summary><c>grub-mkimage -O i386-pc -d DIR -p PREFIX [-c CONFIG] -o OUT MODULES…</c>; returns the core image's bytes.</summary>
    public static byte[] Mkimage(TempDirectory work, GrubPlatformDirectory grub, string prefix, IEnumerable<string> modules, string? embeddedConfig = null)
    {
        var mkimage = ExternalTools.Require("grub-mkimage");
        var output = work.File($"reference-core-{Guid.NewGuid():N}.img");
        var args = new List<string> { "-O", "i386-pc", "-d", grub.DirectoryPath, "-p", prefix, "-o", output };
        if (embeddedConfig != null)
        {
            var config = work.File($"embedded-{Guid.NewGuid():N}.cfg");
            File.WriteAllText(config, embeddedConfig);
            args.AddRange(["-c", config]);
        }
        args.AddRange(modules);
        var r = ProcessRunner.Run(mkimage, args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"grub-mkimage failed: {r}");
        }
        return File.ReadAllBytes(output);
    }

    /// <summary>
    /// Runs grub-bios-setup --no-rs-codes on a disk image file. It only accepts a device path, so it runs
    /// in a private mount namespace whose /dev holds just a symlink /dev/vda → the image (no loop device).
    /// Skips unless root and unshare are available.
    /// </summary>
    public static void BiosSetup(TempDirectory work, GrubPlatformDirectory grub, byte[] coreImage, string diskImage)
    {
        ExternalTools.RequireRoot("grub-bios-setup writes only to a device path; a private mount namespace lets a file stand in for /dev/vda");
        var unshare = ExternalTools.Require("unshare");
        var setup = Path.Combine(grub.DirectoryPath, "grub-bios-setup");
        if (!File.Exists(setup))
        {
            setup = ExternalTools.Require("grub-bios-setup");
        }
        var dir = Directory.CreateDirectory(work.File($"setup-{Guid.NewGuid():N}")).FullName;
        File.Copy(Path.Combine(grub.DirectoryPath, GrubPlatformDirectory.BootImageName), Path.Combine(dir, "boot.img"));
        File.WriteAllBytes(Path.Combine(dir, "core.img"), coreImage);
        var script = $"mount -t tmpfs tmpfs /dev && ln -s '{Path.GetFullPath(diskImage)}' /dev/vda && " +
                     $"'{setup}' --no-rs-codes -d '{dir}' -b boot.img -c core.img /dev/vda";
        var r = ProcessRunner.Run(unshare, ["--mount", "--propagation", "private", "/bin/sh", "-c", script]);
        if (r.ExitCode != 0)
        {
            Assert.Skip($"grub-bios-setup could not be run in a private mount namespace here: {r.StdErr.Trim()}");
        }
    }
}
