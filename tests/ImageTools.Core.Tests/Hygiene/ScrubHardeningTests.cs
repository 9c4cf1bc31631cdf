using System.Text;
using FluentAssertions;
using ImageTools.Core.Hygiene;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Hygiene;

/// <summary>
/// Issue 17: what a scrub must not call done. A link to the account file is followed inside the image (the
/// hashes are in its target) and never out of it; a link that leads nowhere is an error; an image whose root
/// inode is not a directory is damaged, not clean.
/// </summary>
public sealed class ScrubHardeningTests
{
    private const string RootHash = "$6$rootsalt$SecretRootHashThatMustGoAway0123456789";
    private const string AliceHash = "$y$j9T$alicesalt$SecretAliceHashThatMustGoAway";

    private static string Tree(TempDirectory temp, Action<string> shadow)
    {
        var tree = temp.File("tree");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        Directory.CreateDirectory(Path.Combine(tree, "var/lib"));
        File.WriteAllText(Path.Combine(tree, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
        shadow(tree);
        return tree;
    }

    private static ScrubOptions Options => new() { Now = FixedNow, Operations = OperationSelection.Parse("passwords", false) };

    [Fact]
    public void A_shadow_file_that_is_a_relative_link_is_scrubbed_in_its_target()
    {
        using var temp = new TempDirectory("imagetools-scrub17-");
        var tree = Tree(temp, t =>
        {
            File.WriteAllText(Path.Combine(t, "var/lib/shadow.real"), $"root:{RootHash}:19700:0:99999:7:::\nalice:{AliceHash}:19700:0:99999:7:::\n");
            File.CreateSymbolicLink(Path.Combine(t, "etc/shadow"), "../var/lib/shadow.real");
        });
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, tree, "16M");
        var report = Scrubber.Scrub(image, Options);
        report.Changes.Should().Contain(c => c.Path == "/var/lib/shadow.real" && c.Detail.Contains("the target of the link /etc/shadow"));
        var raw = File.ReadAllBytes(image);
        Encoding.ASCII.GetString(raw).Should().NotContain("SecretRootHash").And.NotContain("SecretAliceHash");
        ExtImages.Debugfs(image, "cat /var/lib/shadow.real").Should().Contain("root:!:19700").And.Contain("alice:!:19700");
        ExtImages.Debugfs(image, "stat /etc/shadow").Should().Contain("Type: symlink", "the link itself stays");
        ShouldBeCleanForE2fsck(image);
    }

    [Fact]
    public void An_absolute_link_is_followed_inside_the_image_never_on_the_host()
    {
        using var temp = new TempDirectory("imagetools-scrub17-");
        var tree = Tree(temp, t =>
        {
            File.WriteAllText(Path.Combine(t, "var/lib/shadow.real"), $"root:{RootHash}:19700:0:99999:7:::\n");
            // Absolute, and with '..' past the root: both stay inside the image.
            File.CreateSymbolicLink(Path.Combine(t, "etc/shadow"), "/../../../var/lib/shadow.real");
        });
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, tree, "16M");
        Scrubber.Scrub(image, Options);
        ExtImages.Debugfs(image, "cat /var/lib/shadow.real").Should().Contain("root:!:19700");
        ShouldBeCleanForE2fsck(image);
    }

    [Fact]
    public void A_link_to_nowhere_is_an_error_not_success()
    {
        using var temp = new TempDirectory("imagetools-scrub17-");
        var tree = Tree(temp, t => File.CreateSymbolicLink(Path.Combine(t, "etc/shadow"), "/var/lib/missing"));
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, tree, "16M");
        var before = FileFacts.Sha256(image);
        var act = () => Scrubber.Scrub(image, Options);
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage && e.Message.Contains("/etc/shadow") && e.Message.Contains("does not exist"));
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void An_image_whose_root_inode_is_a_regular_file_is_damaged_not_clean()
    {
        using var temp = new TempDirectory("imagetools-scrub17-");
        var tree = Tree(temp, t => File.WriteAllText(Path.Combine(t, "etc/shadow"), $"root:{RootHash}:19700:0:99999:7:::\n"));
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, tree, "16M", "-O", "^metadata_csum");
        ExtImages.Debugfs(image, "sif <2> mode 0100644", write: true);
        var before = FileFacts.Sha256(image);
        var act = () => Scrubber.Scrub(image, new ScrubOptions { Now = FixedNow });
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage && e.Message.Contains("root inode"));
        FileFacts.Sha256(image).Should().Be(before);
    }
}
