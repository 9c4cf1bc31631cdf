namespace ImageTools.Core.Boot;

/// <summary>
/// GRUB's prefix: the only record, inside core.img, of where its modules and grub.cfg are. The form
/// grub-install embeds for a disk it boots from is <c>(,msdosN)/boot/grub</c>: the empty drive part is
/// filled at boot with the BIOS drive GRUB was loaded from, so the prefix follows the disk whatever
/// number the BIOS gives it. <c>/boot/grub</c> alone would mean the whole disk, which has no filesystem.
/// </summary>
public static class GrubPrefix
{
    /// <summary>Where GRUB's files live inside the partition.</summary>
    public const string DefaultDirectory = "/boot/grub";

    /// <summary>
    /// The prefix for a directory on MBR partition <paramref name="partitionNumber"/> of the boot disk
    /// (1–4 primary, 5 and up logical, as GRUB and Linux number them).
    /// </summary>
    public static string ForMsdosPartition(int partitionNumber, string directory = DefaultDirectory)
    {
        if (partitionNumber is < 1 or > 255)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"MBR partition number {partitionNumber} is out of range (1-4 primary, 5 and up logical)");
        }
        ValidateDirectory(directory);
        return $"(,msdos{partitionNumber}){directory}";
    }

    /// <summary>
    /// The directory must be absolute and plain (letters, digits, <c>/ . _ - +</c>): GRUB expands
    /// <c>$prefix</c> unquoted in scripts, so blanks or quotes would break it at boot.
    /// </summary>
    public static void ValidateDirectory(string directory)
    {
        if (directory.Length == 0 || directory[0] != '/' ||
            !directory.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"GRUB directory \"{directory}\" must be an absolute path of letters, digits and / . _ - +");
        }
    }
}
