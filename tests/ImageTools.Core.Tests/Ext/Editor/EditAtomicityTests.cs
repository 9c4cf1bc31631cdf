using FluentAssertions;
using ImageTools.Core.Ext.Editor;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Ext.Editor;

/// <summary>
/// The commit is all or nothing: a crash (an exception thrown from the progress callback, at the
/// stage named) before the redo log is committed leaves the image byte-identical; a crash after it leaves
/// a log that the next open completes, giving exactly the image an uninterrupted commit gives.
/// </summary>
public sealed class EditAtomicityTests
{
    private sealed class SimulatedCrash : Exception;

    private static void TheEdit(ExtEditor editor)
    {
        editor.Remove("/f300k").Should().BeTrue();
        editor.Truncate("/random-1m");
        editor.Rewrite("/small.txt", "changed\n"u8);
        editor.CreateFile("/new", "new\n"u8, new NewInodeAttributes(0x1A4));
    }

    private static (string Original, string Reference, TempDirectory Temp) Prepare()
    {
        var temp = new TempDirectory("imagetools-atomic-");
        var original = Copy(SampleExtImages.Image("ext4-1k"), temp.File("original.img"));
        var reference = Copy(original, temp.File("reference.img"));
        Edit(reference, TheEdit);
        return (original, reference, temp);
    }

    [Theory]
    [InlineData(CommitStage.RedoLogCommitted, 0)]
    [InlineData(CommitStage.Applying, 1)]
    [InlineData(CommitStage.Applying, 5)]
    [InlineData(CommitStage.Applied, 0)]
    public void A_crash_after_the_redo_log_is_committed_is_completed_by_the_next_open(CommitStage stage, int step)
    {
        var (original, reference, temp) = Prepare();
        using var _ = temp;
        var image = Copy(original, temp.File("crashed.img"));
        var act = () => Edit(image, TheEdit, p =>
        {
            if (p.Stage == stage && p.Done >= step)
            {
                throw new SimulatedCrash();
            }
        });
        act.Should().Throw<SimulatedCrash>();
        File.Exists(image + RedoLog.Suffix).Should().BeTrue("the log outlives the crash");
        if (stage == CommitStage.RedoLogCommitted)
        {
            FileFacts.Sha256(image).Should().Be(FileFacts.Sha256(original), "nothing is written before the log is committed");
        }

        using (var reopened = EditableImage.Open(image))
        {
            reopened.RecoveryNote.Should().Contain("completed an edit that was interrupted");
        }
        File.Exists(image + RedoLog.Suffix).Should().BeFalse();
        FileFacts.Sha256(image).Should().Be(FileFacts.Sha256(reference), "replaying the log gives exactly the uninterrupted result");
        ShouldBeCleanForE2fsck(image);
    }

    [Fact]
    public void A_crash_while_the_log_is_written_leaves_the_image_untouched_and_the_partial_log_is_discarded()
    {
        var (original, _, temp) = Prepare();
        using var _ = temp;
        var image = Copy(original, temp.File("crashed.img"));
        // What a crash in the middle of RedoLog.Write leaves: a .partial file, never renamed.
        File.WriteAllBytes(image + RedoLog.Suffix + ".partial", new byte[777]);
        using (var reopened = EditableImage.Open(image))
        {
            reopened.RecoveryNote.Should().Contain("discarded");
        }
        File.Exists(image + RedoLog.Suffix + ".partial").Should().BeFalse();
        FileFacts.Sha256(image).Should().Be(FileFacts.Sha256(original));
    }

    [Fact]
    public void A_damaged_committed_log_stops_the_open_and_says_what_to_do()
    {
        var (original, _, temp) = Prepare();
        using var _ = temp;
        var image = Copy(original, temp.File("crashed.img"));
        var act = () => Edit(image, TheEdit, p =>
        {
            if (p.Stage == CommitStage.RedoLogCommitted)
            {
                throw new SimulatedCrash();
            }
        });
        act.Should().Throw<SimulatedCrash>();
        var log = File.ReadAllBytes(image + RedoLog.Suffix);
        log[log.Length / 2] ^= 0xFF;
        File.WriteAllBytes(image + RedoLog.Suffix, log);

        var open = () => EditableImage.Open(image).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage && e.Message.Contains("redo log") && e.Message.Contains("checksum"));
        FileFacts.Sha256(image).Should().Be(FileFacts.Sha256(original));
    }

    [Fact]
    public void A_log_is_only_replayed_onto_the_filesystem_it_was_made_for()
    {
        var (original, _, temp) = Prepare();
        using var _ = temp;
        var image = Copy(original, temp.File("crashed.img"));
        var act = () => Edit(image, TheEdit, p =>
        {
            if (p.Stage == CommitStage.RedoLogCommitted)
            {
                throw new SimulatedCrash();
            }
        });
        act.Should().Throw<SimulatedCrash>();
        // The same log beside another filesystem of the same size.
        var other = temp.File("other.img");
        ExtImages.Make(other, "ext4", 1024, Directory.CreateDirectory(temp.File("empty")).FullName, "16M", "-U", "11111111-2222-3333-4444-555555555555");
        File.Copy(image + RedoLog.Suffix, other + RedoLog.Suffix);
        var hash = FileFacts.Sha256(other);
        var open = () => EditableImage.Open(other).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidArgument && e.Message.Contains("belongs to filesystem"));
        FileFacts.Sha256(other).Should().Be(hash);
    }
}

/// <summary>
/// Issue 17, security 1: a redo log beside an image in a shared folder (mode 1777) may have been put there by
/// another user to write into the image when its owner next edits it. Only a log this program wrote, as the
/// user running it, for this image in the state it found, is replayed; anything else is refused, untouched,
/// with the way to discard it.
/// </summary>
public sealed class PlantedRedoLogTests
{
    private sealed class SimulatedCrash : Exception;

    private static void TheEdit(ExtEditor editor) => editor.Rewrite("/small.txt", "attacker's key\n"u8);

    private static string CrashAfterCommit(string image)
    {
        var act = () => Edit(image, TheEdit, p =>
        {
            if (p.Stage == CommitStage.RedoLogCommitted)
            {
                throw new SimulatedCrash();
            }
        });
        act.Should().Throw<SimulatedCrash>();
        return image + RedoLog.Suffix;
    }

    [Fact]
    public void A_log_owned_by_another_user_is_refused_and_nothing_is_written()
    {
        if (Core.Platform.FileMetadataReader.EffectiveUserId != 0)
        {
            return; // chown needs root; the forged-key test below covers non-root runs
        }
        using var temp = new TempDirectory("imagetools-planted-");
        var image = Copy(SampleExtImages.Image("ext4-1k"), temp.File("root.img"));
        var log = CrashAfterCommit(image);
        var before = FileFacts.Sha256(image);
        ProcessRunner.Run("chown", "65534:65534", log).ExitCode.Should().Be(0);
        var open = () => EditableImage.Open(image).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage
            && e.Message.Contains("belongs to user 65534") && e.Message.Contains("rm -- " + log));
        FileFacts.Sha256(image).Should().Be(before);
        File.Exists(log).Should().BeTrue("the user decides what to do with it");
    }

    [Fact]
    public void A_log_others_may_write_is_refused()
    {
        using var temp = new TempDirectory("imagetools-planted-");
        var image = Copy(SampleExtImages.Image("ext4-1k"), temp.File("root.img"));
        var log = CrashAfterCommit(image);
        var before = FileFacts.Sha256(image);
        ProcessRunner.Run("chmod", "0666", log).ExitCode.Should().Be(0);
        var open = () => EditableImage.Open(image).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Message.Contains("others may write to it"));
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void A_well_formed_log_sealed_without_the_users_key_is_refused()
    {
        using var temp = new TempDirectory("imagetools-planted-");
        var image = Copy(SampleExtImages.Image("ext4-1k"), temp.File("root.img"));
        var before = FileFacts.Sha256(image);
        // The attacker knows the format (it is documented) and can even read the image, but not the user's key.
        EditChanges changes;
        byte[] uuid;
        using (var file = File.OpenRead(image))
        using (var editor = ExtEditor.Open(file, image, new ExtEditorOptions { Now = FixedNow }))
        {
            TheEdit(editor);
            changes = editor.CollectChanges();
            uuid = editor.FileSystem.Superblock.Uuid;
        }
        var inode = Core.Platform.PlatformIo.Current.GetIdentity(image).Inode;
        using (var read = File.OpenHandle(image))
        {
            RedoLog.Write(image + RedoLog.Suffix, new RedoLogHeader(new FileInfo(image).Length, 0, uuid, inode), changes,
                (offset, into) => RandomAccess.Read(read, into, offset), System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        }
        var open = () => EditableImage.Open(image).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage && e.Message.Contains("keyed checksum"));
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void A_log_in_the_old_unkeyed_format_is_refused()
    {
        using var temp = new TempDirectory("imagetools-planted-");
        var image = Copy(SampleExtImages.Image("ext4-1k"), temp.File("root.img"));
        var before = FileFacts.Sha256(image);
        // What the probe planted: version 1, sealed by a plain SHA-256 anyone can compute.
        var body = new MemoryStream();
        body.Write("IMAGETOOLS-REDO\n"u8);
        var head = new byte[48];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(head, 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(head.AsSpan(8), new FileInfo(image).Length);
        body.Write(head);
        body.Write("END-REDO"u8);
        body.Write(System.Security.Cryptography.SHA256.HashData(body.ToArray()[..64]));
        File.WriteAllBytes(image + RedoLog.Suffix, body.ToArray());
        var open = () => EditableImage.Open(image).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage && e.Message.Contains("rm -- "));
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void A_log_for_an_image_changed_since_is_refused()
    {
        using var temp = new TempDirectory("imagetools-planted-");
        var image = Copy(SampleExtImages.Image("ext4-1k"), temp.File("root.img"));
        var log = CrashAfterCommit(image);
        // Someone changed the image after the crash (here: another edit, through a fresh log-less view).
        File.Move(log, log + ".aside");
        Edit(image, e => e.Rewrite("/small.txt", "something else entirely, longer than before\n"u8));
        File.Move(log + ".aside", log);
        var before = FileFacts.Sha256(image);
        var open = () => EditableImage.Open(image).Dispose();
        open.Should().Throw<ImageToolsException>().Where(e => e.Message.Contains("holds neither what the logged edit found there nor what it writes"));
        FileFacts.Sha256(image).Should().Be(before);
    }
}
