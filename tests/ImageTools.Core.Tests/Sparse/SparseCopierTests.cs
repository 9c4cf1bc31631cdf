using FluentAssertions;
using ImageTools.Core.Platform;
using ImageTools.Core.Sparse;
using ImageTools.Core.Streams;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Sparse;

/// <summary>
/// The engine against an in-memory model: random sparse layouts, block sizes (odd ones too), skip, seek,
/// limits, file and pipe sources, new and overlaid targets — DEST must always equal the model.
/// </summary>
public sealed class SparseCopierTests : IDisposable
{
    private readonly TempDirectory _dir = new("copier-");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= 40; seed++)
        {
            data.Add(seed);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void CopyMatchesTheModel(int seed)
    {
        var random = new Random(seed);
        var size = random.Next(4) == 0 ? random.Next(0, 5000) : random.Next(0, 3 << 20);
        var sourceBytes = new byte[size];
        var layout = new List<(long, int)>();
        for (var i = random.Next(0, 12); i > 0 && size > 0; i--)
        {
            var offset = random.Next(0, size);
            var length = Math.Min(size - offset, random.Next(1, 200_000));
            layout.Add((offset, length));
        }
        var sourcePath = SparseFiles.Create(_dir.File($"src-{seed}"), size, layout, seed);
        File.ReadAllBytes(sourcePath).CopyTo(sourceBytes, 0);

        int[] blockSizes = [1, 7, 512, 1000, 4096, 65536, 3 << 20];
        var options = new SparseCopyOptions
        {
            BlockSize = blockSizes[random.Next(blockSizes.Length)],
            DestinationOffset = random.Next(3) == 0 ? random.Next(0, 100_000) : 0,
            MaxBytes = random.Next(3) == 0 ? random.Next(0, size + 10) : null,
            BlankCheck = random.Next(2) == 0 ? BlankCheckMode.Auto : BlankCheckMode.ReadBack,
            IoBufferSize = random.Next(2) == 0 ? 1 << 20 : 4096 * random.Next(1, 5),
            Verify = random.Next(2) == 0,
        };
        var skip = random.Next(3) == 0 ? random.Next(0, size + 1) : 0;
        var pipe = random.Next(3) == 0;
        var overlay = random.Next(3) == 0;

        var copied = sourceBytes.AsSpan(Math.Min(skip, size)).ToArray();
        if (options.MaxBytes is { } max && copied.Length > max)
        {
            copied = copied.AsSpan(0, (int)max).ToArray();
        }
        byte[] expected;
        var destPath = _dir.File($"dest-{seed}");
        if (overlay)
        {
            var old = SparseFiles.RandomBytes(random, random.Next(0, 2 << 20));
            File.WriteAllBytes(destPath, old);
            var end = options.DestinationOffset + copied.Length;
            expected = new byte[Math.Max(old.Length, end)];
            old.CopyTo(expected, 0);
            copied.CopyTo(expected, (int)options.DestinationOffset);
        }
        else
        {
            expected = new byte[options.DestinationOffset + copied.Length];
            copied.CopyTo(expected, (int)options.DestinationOffset);
        }

        using var source = pipe
            ? (DataSource)new StreamDataSource("pipe", new ShortReads(new MemoryStream(sourceBytes), random.Next(1, 5000)))
            : FileDataSource.Open(sourcePath);
        using var sliced = skip > 0 ? source.Slice(skip, null) : null;
        using var target = FileCopyTarget.Open(destPath, overlay);

        var stats = SparseCopier.Copy(sliced ?? source, target, options, cancellation: TestContext.Current.CancellationToken);
        target.Commit(CancellationToken.None);
        target.Dispose();

        var because = $"seed {seed}: size {size}, block {options.BlockSize}, skip {skip}, seek {options.DestinationOffset}, max {options.MaxBytes}, pipe {pipe}, overlay {overlay}, {options.BlankCheck}";
        File.ReadAllBytes(destPath).Should().Equal(expected, because);
        stats.TotalBytes.Should().Be(copied.Length, because);
        (stats.WrittenBytes + stats.SparseBytes).Should().Be(stats.TotalBytes, because);
        if (!pipe && !overlay)
        {
            stats.SourceBytesRead.Should().BeLessThanOrEqualTo(FileFacts.AllocatedBytes(sourcePath), "holes are never read; " + because);
            // Every written byte is in a block that holds data: at most whole blocks around each data byte.
            stats.WrittenBytes.Should().BeLessThanOrEqualTo(Math.Min(copied.Length, CountDataBlocks(copied, options.BlockSize) * (long)options.BlockSize), because);
        }
        if (options.Verify)
        {
            stats.SourceSha256.Should().Be(stats.DestinationSha256).And.Be(FileFacts.Sha256(copied));
        }
    }

    [Fact]
    public void UsedAsALibrary_CopiesIntoAWindowOfAnImage()
    {
        // fsmaker's use: a file system image copied sparsely into a partition of a new disk image.
        var fs = SparseFiles.Create(_dir.File("rootfs.img"), 1 << 20, [(1024, 3000), ((1 << 20) - 512, 512)]);
        using var disk = File.OpenHandle(_dir.File("disk.img"), FileMode.CreateNew, FileAccess.ReadWrite);
        RandomAccess.SetLength(disk, 4 << 20);
        using var source = FileDataSource.Open(fs);
        using var partition = new HandleCopyTarget("partition 1", disk, FileKind.RegularFile, baseOffset: 1 << 20,
            knownZeroFrom: 0, capacity: 2 << 20);

        var stats = SparseCopier.Copy(source, partition, new SparseCopyOptions(), cancellation: TestContext.Current.CancellationToken);

        stats.TotalBytes.Should().Be(1 << 20);
        disk.Dispose();
        SparseFiles.ReadRange(_dir.File("disk.img"), 1 << 20, 1 << 20).Should().Equal(File.ReadAllBytes(fs));
        FileFacts.AllocatedBytes(_dir.File("disk.img")).Should().BeLessThanOrEqualTo(FileFacts.AllocatedBytes(fs));
    }

    [Fact]
    public void Cancellation_StopsWithACancelledError()
    {
        using var source = new StreamDataSource("endless", new EndlessZeros());
        using var target = FileCopyTarget.Open(_dir.File("out"), overlay: false);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var act = () => SparseCopier.Copy(source, target, new SparseCopyOptions(), cancellation: cts.Token);
        act.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.Cancelled);
        target.Abort();
        Directory.GetFiles(_dir.Path).Should().BeEmpty();
    }

    private static long CountDataBlocks(byte[] bytes, int blockSize)
    {
        long count = 0;
        for (long i = 0; i < bytes.Length; i += blockSize)
        {
            var n = (int)Math.Min(blockSize, bytes.Length - i);
            if (bytes.AsSpan((int)i, n).IndexOfAnyExcept((byte)0) >= 0)
            {
                count++;
            }
        }
        return count;
    }

    private sealed class ShortReads(Stream inner, int piece) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, piece));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class EndlessZeros : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            Array.Clear(buffer, offset, count);
            return count;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
