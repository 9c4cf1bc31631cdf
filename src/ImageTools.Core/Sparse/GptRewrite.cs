namespace ImageTools.Core.Sparse;

/// <summary>
/// The GPT of a whole-disk copy, rewritten for DEST's size: the sectors to write once the copy is done (protective
/// MBR, primary header and entry array, backup entry array and header, and the old backup header cleared) and what
/// changed, for the report.
/// </summary>
/// <param name="Sectors">(LBA, bytes) to write over what the copy wrote, in this order.</param>
/// <param name="OldBackupHeaderLba">Where SOURCE's backup header was (null when SOURCE's primary header was damaged).</param>
/// <param name="BackupHeaderLba">Where DEST's backup header is: its last sector.</param>
/// <param name="ClearedOldBackupLba">The old backup header's sector within DEST, cleared; null when it lay outside what was copied.</param>
/// <param name="Grown">The partition <c>--grow</c> extended, or null.</param>
public sealed record GptRewrite(IReadOnlyList<(long Lba, byte[] Bytes)> Sectors, long? OldBackupHeaderLba, long BackupHeaderLba,
    long? ClearedOldBackupLba, GptRewrite.Growth? Grown)
{
    /// <summary>Partition <paramref name="PartitionNumber"/> now ends at <paramref name="NewEndSector"/>.</summary>
    public sealed record Growth(int PartitionNumber, long StartSector, long OldEndSector, long NewEndSector)
    {
        public long OldSectorCount => OldEndSector - StartSector + 1;

        public long NewSectorCount => NewEndSector - StartSector + 1;
    }
}
