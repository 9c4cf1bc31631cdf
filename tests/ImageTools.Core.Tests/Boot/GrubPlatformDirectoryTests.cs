using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

public sealed class GrubPlatformDirectoryTests
{
    [Fact]
    public void Opens_this_machines_grub_files()
    {
        var grub = GrubFiles.Open();

        grub.BootImage.Should().HaveCount(512);
        grub.DiskBootImage.Should().HaveCount(512);
        grub.DecompressorHeader.ReedSolomonLength.Should().Be(0);
        grub.Dependencies.DependenciesOf("ext2").Should().Contain("fshelp");
        grub.ListModules().Should().Contain(["normal", "linux", "biosdisk"]);
        grub.ListListFiles().Should().Contain(["moddep.lst", "command.lst"]);
    }

    [Fact]
    public void A_missing_directory_is_named_with_how_to_get_the_files()
    {
        using var work = new TempDirectory();
        var missing = work.File("no-such-grub");

        var act = () => GrubPlatformDirectory.Open(missing, "from $GRUB_DIR");

        act.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.MissingResource)
            .WithMessage($"*{missing}*from $GRUB_DIR*does not exist*grub-pc-bin*");
    }

    [Theory]
    [InlineData("boot.img")]
    [InlineData("diskboot.img")]
    [InlineData("lzma_decompress.img")]
    [InlineData("kernel.img")]
    [InlineData("moddep.lst")]
    public void A_missing_file_is_named(string file)
    {
        using var work = new TempDirectory();
        var dir = GrubFiles.Copy(work);
        File.Delete(Path.Combine(dir, file));

        var act = () => GrubPlatformDirectory.Open(dir, "given with --grub-dir");

        act.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.MissingResource && e.Path == dir)
            .WithMessage($"*{dir}*has no {file}*grub-pc-bin*");
    }

    // One damaged byte (or two) in a known-good file, and the field the message must name.
    [Theory]
    [InlineData("kernel.img", 0, new byte[] { 0x00 }, "*kernel.img*no ELF magic*")]
    [InlineData("kernel.img", 4, new byte[] { 2 }, "*kernel.img*EI_CLASS*")]
    [InlineData("kernel.img", 18, new byte[] { 0x3E }, "*kernel.img*e_machine*")]
    [InlineData("kernel.img", 24, new byte[] { 0x00, 0x80 }, "*kernel.img*entry point*")]
    [InlineData("kernel.img", 46, new byte[] { 41 }, "*kernel.img*e_shentsize*")]
    [InlineData("lzma_decompress.img", 0x14, new byte[] { 0xFF, 0xFF }, "*lzma_decompress.img*0xFFFF*")]
    [InlineData("lzma_decompress.img", 0x14, new byte[] { 0x00, 0x7F }, "*lzma_decompress.img*no-RS length*outside*")]
    [InlineData("boot.img", 0x1FE, new byte[] { 0x00 }, "*boot.img*55 AA*")]
    [InlineData("boot.img", 0x5A, new byte[] { 0x00, 0x90 }, "*boot.img*jumps to 0x9000*")]
    [InlineData("boot.img", 0x66, new byte[] { 0x74 }, "*boot.img*drive check*")]
    [InlineData("diskboot.img", 0x1E8 + 8, new byte[] { 1 }, "*diskboot.img*entry 1*terminator*")]
    [InlineData("diskboot.img", 0x1FE, new byte[] { 0x00, 0x10 }, "*diskboot.img*segment 0x1000*")]
    public void A_damaged_file_is_named_with_the_field(string file, int offset, byte[] bytes, string expectedMessage)
    {
        using var work = new TempDirectory();
        var dir = GrubFiles.Copy(work);
        using (var f = new FileStream(Path.Combine(dir, file), FileMode.Open, FileAccess.Write))
        {
            f.Position = offset;
            f.Write(bytes);
        }

        var act = () => GrubPlatformDirectory.Open(dir);

        act.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.MissingResource)
            .WithMessage(expectedMessage).WithMessage("*grub-pc-bin*");
    }

    [Fact]
    public void A_kernel_with_a_section_past_the_end_of_the_file_is_refused()
    {
        using var work = new TempDirectory();
        var dir = GrubFiles.Copy(work);
        var kernel = Path.Combine(dir, "kernel.img");
        // Cut the file right after the section header table would start: the table is then incomplete.
        var bytes = File.ReadAllBytes(kernel);
        var shoff = BitConverter.ToInt32(bytes, 32);
        File.WriteAllBytes(kernel, bytes[..(shoff + 10)]);

        var act = () => GrubPlatformDirectory.Open(dir);

        act.Should().Throw<ImageToolsException>().WithMessage("*kernel.img*section header table*past the end*");
    }

    [Fact]
    public void A_malformed_moddep_line_is_named_by_its_number()
    {
        using var work = new TempDirectory();
        var dir = GrubFiles.Copy(work);
        var moddep = Path.Combine(dir, "moddep.lst");
        int lines = File.ReadAllLines(moddep).Length;
        File.AppendAllText(moddep, "this line has no colon\n");

        var act = () => GrubPlatformDirectory.Open(dir);

        act.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.MissingResource)
            .WithMessage($"*moddep.lst, line {lines + 1}*no ':'*");
    }

    [Fact]
    public void A_missing_module_is_named()
    {
        using var work = new TempDirectory();
        var grub = GrubPlatformDirectory.Open(GrubFiles.Copy(work));

        var act = () => GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Modules = ["biosdisk", "part_msdos", "ext2", "xfs"], Prefix = "(,msdos1)/boot/grub" });

        act.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.MissingResource)
            .WithMessage("*has no module xfs.mod*grub-pc-bin*");
    }

    [Fact]
    public void The_directory_comes_from_the_option_then_the_environment_then_the_default()
    {
        GrubPlatformDirectory.Choose("/opt/a", "/opt/b").Path.Should().Be("/opt/a");
        GrubPlatformDirectory.Choose(null, "/opt/b").Path.Should().Be("/opt/b");
        GrubPlatformDirectory.Choose("", "").Path.Should().Be("/usr/lib/grub/i386-pc");
        GrubPlatformDirectory.Choose(null, null).Origin.Should().Contain("default");
    }
}
