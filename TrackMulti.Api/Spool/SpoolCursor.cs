namespace TrackMulti.Api.Spool;

/// <summary>
/// One sink's place in the log: which sealed segment it gets next and how much of it is done. The sink reads a
/// segment's content through <see cref="OpenRead"/> and acknowledges what it delivered, a whole segment or a part
/// (the cursor is kept on disk, so after a crash the sink goes on from its last acknowledgement).
/// </summary>
public sealed class SpoolCursor
{
    private readonly SpoolLog _log;
    private readonly SpoolDirectory _directory;
    private readonly Func<string, bool> _takes;
    private readonly long? _maxBacklogBytes;
    private readonly Lock _persistLock = new();
    private SpoolPosition _position;
    private int _backlogSegments;
    private long _backlogEvents;
    private long _backlogBytes;

    internal SpoolCursor(SpoolLog log, SpoolDirectory directory, string sink, Func<string, bool> takes, long? maxBacklogBytes, Action<SpoolDrop>? onDropped)
    {
        _log = log;
        _directory = directory;
        Sink = sink;
        _takes = takes;
        _maxBacklogBytes = maxBacklogBytes;
        OnDropped = onDropped;
    }

    public string Sink { get; }

    internal Action<SpoolDrop>? OnDropped { get; }

    public SpoolPosition Position
    {
        get
        {
            lock (_log.SyncRoot)
            {
                return _position;
            }
        }
    }

    /// <summary>What waits for this sink: sealed segments it takes and has not fully acknowledged.</summary>
    public SpoolBacklog Backlog
    {
        get
        {
            lock (_log.SyncRoot)
            {
                var oldest = _backlogSegments > 0 ? _log.Segments[FirstNeededIndexLocked()].SealedAt : (DateTimeOffset?)null;
                return new SpoolBacklog(_backlogSegments, _backlogEvents, _backlogBytes, oldest);
            }
        }
    }

    /// <summary>The segments of <see cref="Backlog"/>, oldest first.</summary>
    public IReadOnlyList<SealedSegment> Pending()
    {
        lock (_log.SyncRoot)
        {
            return [.. Remaining()];
        }
    }

    /// <summary>The next segment to deliver, once there is one. How much of it is done: <see cref="EventsDone"/>.</summary>
    public Task<SealedSegment> NextAsync(CancellationToken cancellationToken) => NextAsync(after: null, cancellationToken);

    /// <summary>
    /// The first segment still to deliver that comes after <paramref name="after"/> (one being delivered already),
    /// once there is one: a sink with several deliveries in flight takes them in order.
    /// </summary>
    public async Task<SealedSegment> NextAsync(SealedSegment? after, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task added;
            lock (_log.SyncRoot)
            {
                var segments = _log.Segments;
                var index = FirstNeededIndexLocked();
                if (after is not null)
                {
                    index = Math.Max(index, FirstAtOrAfter(segments, after.Sequence + 1));
                }
                while (index < segments.Count && !_takes(segments[index].Stream))
                {
                    index++;
                }
                if (index < segments.Count)
                {
                    return segments[index];
                }
                added = _log.SegmentAddedLocked();
            }
            await added.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Events of <paramref name="segment"/> this sink acknowledged already (all of them once it is passed).</summary>
    public int EventsDone(SealedSegment segment)
    {
        var position = Position;
        return position.Sequence > segment.Sequence ? segment.Events
            : position.Sequence == segment.Sequence ? position.Events
            : 0;
    }

    /// <summary>The segment's content, from its first byte. Each call opens it anew (for a retry).</summary>
    public Stream OpenRead(SealedSegment segment) =>
        new FileStream(_directory.SealedPath(segment), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, useAsync: true);

    /// <summary>
    /// The sink delivered the first <paramref name="eventsDone"/> events of <paramref name="segment"/> (all of them:
    /// the segment is done). False when the cursor had passed them already (a bounded sink's segment was dropped).
    /// </summary>
    public bool Acknowledge(SealedSegment segment, int eventsDone)
    {
        lock (_log.SyncRoot)
        {
            FirstNeededIndexLocked(); // passes over segments it does not take, so the position is comparable
            if (_position.Sequence > segment.Sequence || (_position.Sequence == segment.Sequence && _position.Events >= eventsDone))
            {
                return false;
            }
            var before = _position.Sequence == segment.Sequence ? _position.Events : 0;
            if (eventsDone >= segment.Events)
            {
                _position = new SpoolPosition(segment.Sequence + 1, 0);
                _backlogSegments--;
                _backlogBytes -= segment.Bytes;
                _backlogEvents -= segment.Events - before;
            }
            else
            {
                _position = new SpoolPosition(segment.Sequence, eventsDone);
                _backlogEvents -= eventsDone - before;
            }
            if (eventsDone >= segment.Events)
            {
                // Within the lock, so whoever sees the segment gone from this backlog finds its disk freed too.
                _log.FreeLocked();
            }
        }
        Persist();
        return true;
    }

    /// <summary>Writes the current position to disk; the one written last is always the newest.</summary>
    internal void Persist()
    {
        lock (_persistLock)
        {
            _directory.WriteCursor(Sink, Position);
        }
    }

    /// <summary>At start: the position kept on disk, and the backlog it leaves.</summary>
    internal void Restore(SpoolPosition position)
    {
        _position = position;
        _backlogSegments = 0;
        _backlogEvents = 0;
        _backlogBytes = 0;
        FirstNeededIndexLocked();
        foreach (var segment in Remaining())
        {
            _backlogSegments++;
            _backlogBytes += segment.Bytes;
            _backlogEvents += segment.Events - (segment.Sequence == _position.Sequence ? _position.Events : 0);
        }
    }

    /// <summary>A segment was sealed: count it if this sink takes it, and keep a bounded backlog within its bound.</summary>
    internal void OnAdded(SealedSegment segment, List<(SpoolCursor, SpoolDrop)> drops)
    {
        if (!_takes(segment.Stream) || segment.Sequence < _position.Sequence)
        {
            return;
        }
        _backlogSegments++;
        _backlogEvents += segment.Events;
        _backlogBytes += segment.Bytes;
        while (_backlogBytes > _maxBacklogBytes && _backlogSegments > 0)
        {
            var oldest = _log.Segments[FirstNeededIndexLocked()];
            var done = oldest.Sequence == _position.Sequence ? _position.Events : 0;
            drops.Add((this, new SpoolDrop(oldest, done)));
            _position = new SpoolPosition(oldest.Sequence + 1, 0);
            _backlogSegments--;
            _backlogBytes -= oldest.Bytes;
            _backlogEvents -= oldest.Events - done;
        }
    }

    /// <summary>The first sequence this sink still needs (with the log's lock held).</summary>
    internal long FirstNeededLocked()
    {
        var index = FirstNeededIndexLocked();
        return index < _log.Segments.Count ? _log.Segments[index].Sequence : _position.Sequence;
    }

    /// <summary>
    /// Index of the first kept segment the sink still needs, moving the position past segments it does not take
    /// (and onto the next kept one when its own is gone). Count when there is none.
    /// </summary>
    private int FirstNeededIndexLocked()
    {
        var segments = _log.Segments;
        var index = FirstAtOrAfter(segments, _position.Sequence);
        while (index < segments.Count && !_takes(segments[index].Stream))
        {
            index++;
        }
        if (index < segments.Count && segments[index].Sequence != _position.Sequence)
        {
            _position = new SpoolPosition(segments[index].Sequence, 0);
        }
        else if (index == segments.Count && segments.Count > 0 && segments[^1].Sequence >= _position.Sequence)
        {
            _position = new SpoolPosition(segments[^1].Sequence + 1, 0);
        }
        return index;
    }

    private IEnumerable<SealedSegment> Remaining()
    {
        var segments = _log.Segments;
        for (var index = FirstNeededIndexLocked(); index < segments.Count; index++)
        {
            if (_takes(segments[index].Stream))
            {
                yield return segments[index];
            }
        }
    }

    private static int FirstAtOrAfter(List<SealedSegment> segments, long sequence)
    {
        int low = 0, high = segments.Count;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (segments[middle].Sequence < sequence)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }
        return low;
    }
}

/// <param name="Segments">Sealed segments not fully delivered.</param>
/// <param name="Events">Events in them not yet delivered.</param>
/// <param name="Bytes">Their size on disk.</param>
/// <param name="OldestSealedAt">When the oldest of them was sealed.</param>
public sealed record SpoolBacklog(int Segments, long Events, long Bytes, DateTimeOffset? OldestSealedAt);
