namespace ImageTools.Core.Sparse;

/// <summary>
/// A small bounded queue between the copy's reader thread and its writer: a lock and Monitor.Wait/Pulse, so a
/// side that must wait sleeps in the kernel at once. (BlockingCollection's semaphore spins with sched_yield
/// before it sleeps; on a busy machine that spinning took the CPU the other side needed.) Waits wake every
/// 50 ms to notice cancellation.
/// </summary>
internal sealed class BufferHandoff<T>(int capacity)
{
    private static readonly TimeSpan CancellationPoll = TimeSpan.FromMilliseconds(50);
    private readonly Queue<T> _items = new(capacity);
    private bool _completed;

    /// <summary>Adds an item, waiting while the queue is full.</summary>
    public void Add(T item, CancellationToken cancellation)
    {
        lock (_items)
        {
            while (_items.Count >= capacity)
            {
                cancellation.ThrowIfCancellationRequested();
                Monitor.Wait(_items, CancellationPoll);
            }
            _items.Enqueue(item);
            Monitor.PulseAll(_items);
        }
    }

    /// <summary>Takes the next item, waiting while the queue is empty; false once it is empty and complete.</summary>
    public bool TryTake(out T item, CancellationToken cancellation)
    {
        lock (_items)
        {
            while (_items.Count == 0)
            {
                if (_completed)
                {
                    item = default!;
                    return false;
                }
                cancellation.ThrowIfCancellationRequested();
                Monitor.Wait(_items, CancellationPoll);
            }
            item = _items.Dequeue();
            Monitor.PulseAll(_items);
            return true;
        }
    }

    /// <summary>Takes the next item, waiting while the queue is empty (for a queue that is never completed).</summary>
    public T Take(CancellationToken cancellation) =>
        TryTake(out var item, cancellation) ? item : throw new InvalidOperationException("the hand-off was completed");

    /// <summary>No more items will be added; a waiting taker returns false once the queue is empty.</summary>
    public void Complete()
    {
        lock (_items)
        {
            _completed = true;
            Monitor.PulseAll(_items);
        }
    }
}
