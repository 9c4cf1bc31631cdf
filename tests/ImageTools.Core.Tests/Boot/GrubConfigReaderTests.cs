using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

/// <summary>
/// The grub.cfg reader against the writer (everything written reads back as the same entries) and against a
/// menu in grub-mkconfig's style, which grub-script-check first confirms is valid GRUB script.
/// </summary>
public sealed class GrubConfigReaderTests
{
    private const string Uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    [Fact]
    public void What_the_writer_writes_reads_back_as_the_same_entries()
    {
        var commandLine = KernelCommandLine.Build(new KernelCommandLineOptions
        {
            RootFilesystemUuid = Uuid,
            Extra = "init=/bin/sh;reboot $HOME foo=\"a b\" it's quiet",
        });
        var kernels = KernelLocator.FindInRootFilesystem(["/vmlinuz", "/initrd.img", "/boot/vmlinuz-6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-10-amd64", "/boot/initrd.img-6.1.0-10-amd64"]);
        var entries = new List<GrubMenuEntry>
        {
            new() { Title = "Tom's {kernel} on $disk", KernelPath = "/boot/vmlinuz", InitrdPath = "/boot/initrd.img", CommandLine = commandLine },
        };
        entries.AddRange(GrubConfigWriter.EntriesForRootKernels(kernels, commandLine, "Debian GNU/Linux 12 (bookworm)"));
        var cfg = GrubConfigWriter.Write(new GrubConfigOptions { TimeoutSeconds = 5, DefaultEntry = 1, RootFilesystemUuid = Uuid }, entries);
        ScriptCheck(cfg);

        var read = GrubConfigReader.Read(cfg);

        read.Default.Should().Be("1");
        read.Timeout.Should().Be("5");
        read.Entries.Select(e => e.Title).Should().Equal(entries.Select(e => e.Title));
        read.Entries.Select(e => e.KernelPath).Should().Equal(entries.Select(e => e.KernelPath));
        read.Entries.Select(e => e.CommandLine).Should().AllBe(commandLine);
        read.Entries.Select(e => e.InitrdPaths.SingleOrDefault()).Should().Equal(entries.Select(e => e.InitrdPath));
        read.Entries.Select(e => e.Source).Should().Equal(entries.Select(e => e.Source));
        read.Entries.Where(e => e.Source == GrubFileSource.RootFilesystem).Should().OnlyContain(e => e.SearchUuid == Uuid);
        read.Entries[0].SearchUuid.Should().BeNull();
    }

    [Fact]
    public void A_menu_in_grub_mkconfig_style_gives_its_entries_with_submenus_named_as_grub_names_them()
    {
        const string cfg = """
            # a menu the way grub-mkconfig lays one out
            if [ -s $prefix/grubenv ]; then
              load_env
            fi
            set default="0"
            function load_video {
              insmod all_video
              menuentry 'never an entry: functions run only when called' { true; }
            }
            if [ x$feature_timeout_style = xy ] ; then
              set timeout_style=menu
              set timeout=5
            else
              set timeout=5
            fi
            menuentry 'Debian GNU/Linux' --class debian --class gnu-linux $menuentry_id_option 'gnulinux-simple-1234' {
            	load_video
            	insmod ext2
            	search --no-floppy --fs-uuid --set=root --hint-bios=hd0,msdos1 --hint='hd0,msdos1'  1F0E2D3C-4B5A-6978-8796-A5B4C3D2E1F0
            	echo	'Loading Linux 6.1.0-18-amd64 ...'
            	linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1f0e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro \
            	  quiet
            	initrd	/boot/initrd.img-6.1.0-18-amd64
            }
            submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-1234' {
            	menuentry "Debian GNU/Linux, with \"Linux\" 6.1.0-18-amd64 (recovery mode)" --class debian {
            		set root='hd0,msdos2'
            		linux16 /vmlinuz-6.1.0-18-amd64 root=/dev/sda1 ro single
            		initrd16 /intel-ucode.img /initrd.img-6.1.0-18-amd64
            	}
            }
            menuentry 'UEFI Firmware Settings' { fwsetup; }
            """;
        ScriptCheck(cfg);

        var read = GrubConfigReader.Read(cfg);

        read.Default.Should().Be("0");
        read.Timeout.Should().Be("5");
        read.Entries.Should().HaveCount(3);
        read.Entries[0].Should().BeEquivalentTo(new
        {
            Title = "Debian GNU/Linux",
            KernelPath = "/boot/vmlinuz-6.1.0-18-amd64",
            CommandLine = "root=UUID=1f0e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro quiet",
            InitrdPaths = new[] { "/boot/initrd.img-6.1.0-18-amd64" },
            SearchUuid = "1f0e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            Source = GrubFileSource.RootFilesystem,
        });
        read.Entries[1].Should().BeEquivalentTo(new
        {
            Title = "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with \"Linux\" 6.1.0-18-amd64 (recovery mode)",
            KernelPath = "/vmlinuz-6.1.0-18-amd64",
            CommandLine = "root=/dev/sda1 ro single",
            InitrdPaths = new[] { "/intel-ucode.img", "/initrd.img-6.1.0-18-amd64" },
            RootSetting = "hd0,msdos2",
            Source = GrubFileSource.BootPartition,
        });
        read.Entries[2].Title.Should().Be("UEFI Firmware Settings");
        read.Entries[2].KernelPath.Should().BeNull();
    }

    [Theory]
    [InlineData("")]
    [InlineData("menuentry")]
    [InlineData("menuentry 'x' {\n linux")]
    [InlineData("}}}} {{{{ menuentry 'unterminated")]
    [InlineData("menuentry \"open quote {\n")]
    [InlineData("\\")]
    public void Odd_input_never_throws(string cfg)
    {
        FluentActions.Invoking(() => GrubConfigReader.Read(cfg)).Should().NotThrow();
    }

    [Fact]
    public void Deep_nesting_is_bounded()
    {
        var cfg = string.Concat(Enumerable.Repeat("if true; then {\n", 100_000));

        FluentActions.Invoking(() => GrubConfigReader.Read(cfg)).Should().NotThrow();
    }

    private static void ScriptCheck(string cfg)
    {
        var check = ExternalTools.Require("grub-script-check");
        using var work = new TempDirectory();
        var file = work.File("grub.cfg");
        File.WriteAllText(file, cfg);
        var r = ProcessRunner.Run(check, file);
        r.ExitCode.Should().Be(0, $"grub-script-check rejects:\n{cfg}\n{r}");
    }
}
