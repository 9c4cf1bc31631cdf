using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

public sealed class GrubConfigTests
{
    private const string Uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    private static readonly string DefaultCommandLine = KernelCommandLine.Build(new KernelCommandLineOptions { RootFilesystemUuid = Uuid });

    [Fact]
    public void Boot_partition_entry_with_serial_console()
    {
        var entries = new[]
        {
            new GrubMenuEntry { Title = "Debian GNU/Linux", KernelPath = "/boot/vmlinuz", InitrdPath = "/boot/initrd.img", CommandLine = DefaultCommandLine },
        };

        var cfg = GrubConfigWriter.Write(new GrubConfigOptions { TimeoutSeconds = 3 }, entries);

        ScriptCheck(cfg);
        Lines(cfg).Should().ContainInOrder(
            "insmod part_msdos", "insmod ext2", "insmod serial", "insmod linux",
            "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1",
            "terminal_input serial console", "terminal_output serial console",
            "set timeout=3", "set default=0",
            "menuentry 'Debian GNU/Linux' {",
            $"    linux /boot/vmlinuz root=UUID={Uuid} ro console=tty0 console=ttyS0,115200",
            "    initrd /boot/initrd.img",
            "}");
        cfg.Should().NotContain("search");
    }

    [Fact]
    public void Root_filesystem_entries_find_the_root_partition_by_uuid_and_follow_the_links()
    {
        var kernels = KernelLocator.FindInRootFilesystem(["/vmlinuz", "/initrd.img", "/boot/vmlinuz-6.1.0-9-amd64", "/boot/initrd.img-6.1.0-9-amd64", "/etc/fstab"]);
        var entries = GrubConfigWriter.EntriesForRootKernels(kernels, DefaultCommandLine, "Debian GNU/Linux");

        var cfg = GrubConfigWriter.Write(new GrubConfigOptions { RootFilesystemUuid = Uuid.ToUpperInvariant(), RootPartitionNumber = 1 }, entries);

        ScriptCheck(cfg);
        Lines(cfg).Should().ContainInOrder(
            "insmod search",
            "menuentry 'Debian GNU/Linux (/vmlinuz)' {",
            $"    search --no-floppy --fs-uuid --set=root --hint=hd0,msdos1 {Uuid}",
            $"    linux /vmlinuz root=UUID={Uuid} ro console=tty0 console=ttyS0,115200",
            "    initrd /initrd.img",
            "}",
            "menuentry 'Debian GNU/Linux, kernel 6.1.0-9-amd64' {",
            $"    search --no-floppy --fs-uuid --set=root --hint=hd0,msdos1 {Uuid}",
            $"    linux /boot/vmlinuz-6.1.0-9-amd64 root=UUID={Uuid} ro console=tty0 console=ttyS0,115200",
            "    initrd /boot/initrd.img-6.1.0-9-amd64");
    }

    [Fact]
    public void Words_that_mean_something_to_grub_are_quoted()
    {
        var commandLine = KernelCommandLine.Build(new KernelCommandLineOptions
        {
            RootDevice = "/dev/vda1",
            DefaultConsoles = false,
            Extra = "init=/bin/sh;reboot $HOME foo=\"a b\" it's quiet",
        });
        var entries = new[] { new GrubMenuEntry { Title = "Tom's {kernel}", KernelPath = "/boot/vmlinuz", CommandLine = commandLine } };

        var cfg = GrubConfigWriter.Write(new GrubConfigOptions { SerialConsole = false }, entries);

        ScriptCheck(cfg);
        cfg.Should().Contain("menuentry 'Tom'\\''s {kernel}' {");
        cfg.Should().Contain("    linux /boot/vmlinuz root=/dev/vda1 ro 'init=/bin/sh;reboot' '$HOME' 'foo=\"a b\"' 'it'\\''s' quiet\n");
        cfg.Should().NotContain("serial").And.NotContain("initrd");
    }

    [Fact]
    public void No_kernel_gives_a_menu_without_entries()
    {
        var cfg = GrubConfigWriter.Write(new GrubConfigOptions(), []);

        ScriptCheck(cfg);
        cfg.Should().NotContain("menuentry").And.NotContain("insmod linux").And.Contain("set timeout=1");
    }

    [Fact]
    public void Root_entries_without_the_root_uuid_or_a_missing_default_are_refused()
    {
        var root = new GrubMenuEntry { Title = "x", KernelPath = "/vmlinuz", Source = GrubFileSource.RootFilesystem, CommandLine = DefaultCommandLine };

        FluentActions.Invoking(() => GrubConfigWriter.Write(new GrubConfigOptions(), [root]))
            .Should().Throw<ImageToolsException>().WithMessage("*UUID*");
        FluentActions.Invoking(() => GrubConfigWriter.Write(new GrubConfigOptions { RootFilesystemUuid = Uuid, DefaultEntry = 1 }, [root]))
            .Should().Throw<ImageToolsException>().WithMessage("*default entry 1*");
        FluentActions.Invoking(() => GrubConfigWriter.Write(new GrubConfigOptions(), [root with { Source = GrubFileSource.BootPartition, KernelPath = "vmlinuz" }]))
            .Should().Throw<ImageToolsException>().WithMessage("*not an absolute path*");
    }

    [Fact]
    public void Command_line_names_the_root_by_uuid_unless_a_device_is_given()
    {
        KernelCommandLine.Build(new KernelCommandLineOptions { RootFilesystemUuid = Uuid.ToUpperInvariant(), Extra = " quiet splash " })
            .Should().Be($"root=UUID={Uuid} ro console=tty0 console=ttyS0,115200 quiet splash");
        KernelCommandLine.Build(new KernelCommandLineOptions { RootFilesystemUuid = Uuid, RootDevice = "/dev/sda1", DefaultConsoles = false })
            .Should().Be("root=/dev/sda1 ro");
        FluentActions.Invoking(() => KernelCommandLine.Build(new KernelCommandLineOptions { RootFilesystemUuid = "not-a-uuid" }))
            .Should().Throw<ImageToolsException>().WithMessage("*not a filesystem UUID*");
        FluentActions.Invoking(() => KernelCommandLine.Build(new KernelCommandLineOptions()))
            .Should().Throw<ImageToolsException>().WithMessage("*UUID or a root device*");
    }

    [Fact]
    public void Command_line_splits_like_the_kernel_at_blanks_outside_double_quotes()
    {
        KernelCommandLine.Split("  a=1  b=\"x y\"\tc ").Should().Equal("a=1", "b=\"x y\"", "c");
        FluentActions.Invoking(() => KernelCommandLine.Split("a=\"open")).Should().Throw<ImageToolsException>().WithMessage("*unbalanced*");
    }

    /// <summary>GRUB's own parser (grub-script-check, from grub-common) must accept the file.</summary>
    private static void ScriptCheck(string cfg)
    {
        var check = ExternalTools.Require("grub-script-check");
        using var work = new TempDirectory();
        var file = work.File("grub.cfg");
        File.WriteAllText(file, cfg);
        var r = ProcessRunner.Run(check, file);
        r.ExitCode.Should().Be(0, $"grub-script-check rejects:\n{cfg}\n{r}");
    }

    private static string[] Lines(string cfg) => cfg.Split('\n');
}
