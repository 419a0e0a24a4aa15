namespace TrackMulti.Api.Spool;

/// <summary>The consumer face: each sink's cursor over the index of sealed segments, which only the log touches.</summary>
public sealed partial class SpoolLog
{
    internal SpoolPosition PositionOf(SpoolCursor cursor)
    {
        lock (_lock)
        {
            return cursor.At;
        }
    }

    internal SpoolBacklog BacklogOf(SpoolCursor cursor)
    {
        lock (_lock)
        {
            var oldest = cursor.BacklogSegments > 0 ? _segments[FirstNeededIndex(cursor)].SealedAt : (DateTimeOffset?)null;
            return new SpoolBacklog(cursor.BacklogSegments, cursor.BacklogEvents, cursor.BacklogBytes, oldest);
        }
    }

    internal IReadOnlyList<SealedSegment> PendingFor(SpoolCursor cursor)
    {
        lock (_lock)
        {
            return [.. Remaining(cursor)];
        }
    }

    internal async Task<SealedSegment> NextAsync(SpoolCursor cursor, SealedSegment? after, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task added;
            lock (_lock)
            {
                var index = FirstNeededIndex(cursor);
                if (after is not null)
                {
                    index = Math.Max(index, FirstAtOrAfter(after.Sequence + 1));
                }
                while (index < _segments.Count && !cursor.Takes(_segments[index].Stream))
                {
                    index++;
                }
                if (index < _segments.Count)
                {
                    return _segments[index];
                }
                added = _added.Task;
            }
            await added.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Moves the cursor past what the sink delivered; false when it had passed it already.</summary>
    internal bool Acknowledge(SpoolCursor cursor, SealedSegment segment, int eventsDone)
    {
        lock (_lock)
        {
            FirstNeededIndex(cursor); // passes over segments it does not take, so the position is comparable
            var at = cursor.At;
            if (at.Sequence > segment.Sequence || (at.Sequence == segment.Sequence && at.Events >= eventsDone))
            {
                return false;
            }
            var before = at.Sequence == segment.Sequence ? at.Events : 0;
            if (eventsDone >= segment.Events)
            {
                cursor.At = new SpoolPosition(segment.Sequence + 1, 0);
                cursor.BacklogSegments--;
                cursor.BacklogBytes -= segment.Bytes;
                cursor.BacklogEvents -= segment.Events - before;
                // Within the lock, so whoever sees the segment gone from this backlog finds its disk freed too.
                Delete(Passed());
            }
            else
            {
                cursor.At = new SpoolPosition(segment.Sequence, eventsDone);
                cursor.BacklogEvents -= eventsDone - before;
            }
            return true;
        }
    }

    /// <summary>At start: the position kept on disk, and the backlog it leaves (the caller holds the lock).</summary>
    private void Restore(SpoolCursor cursor, SpoolPosition position)
    {
        cursor.At = position;
        cursor.BacklogSegments = 0;
        cursor.BacklogEvents = 0;
        cursor.BacklogBytes = 0;
        FirstNeededIndex(cursor);
        foreach (var segment in Remaining(cursor))
        {
            cursor.BacklogSegments++;
            cursor.BacklogBytes += segment.Bytes;
            cursor.BacklogEvents += segment.Events - (segment.Sequence == cursor.At.Sequence ? cursor.At.Events : 0);
        }
    }

    /// <summary>A segment was sealed: count it if the sink takes it, and keep a bounded backlog within its bound.</summary>
    private void OnAdded(SpoolCursor cursor, SealedSegment segment, List<(SpoolCursor, SpoolDrop)> drops)
    {
        if (!cursor.Takes(segment.Stream) || segment.Sequence < cursor.At.Sequence)
        {
            return;
        }
        cursor.BacklogSegments++;
        cursor.BacklogEvents += segment.Events;
        cursor.BacklogBytes += segment.Bytes;
        while (cursor.BacklogBytes > cursor.MaxBacklogBytes && cursor.BacklogSegments > 0)
        {
            var oldest = _segments[FirstNeededIndex(cursor)];
            var done = oldest.Sequence == cursor.At.Sequence ? cursor.At.Events : 0;
            drops.Add((cursor, new SpoolDrop(oldest, done)));
            cursor.At = new SpoolPosition(oldest.Sequence + 1, 0);
            cursor.BacklogSegments--;
            cursor.BacklogBytes -= oldest.Bytes;
            cursor.BacklogEvents -= oldest.Events - done;
        }
    }

    /// <summary>Takes out of the index what every cursor has passed (the caller holds the lock and deletes them).</summary>
    private List<SealedSegment> Passed()
    {
        if (_cursors.Count == 0)
        {
            return []; // no sink has taken anything yet: nothing may go
        }
        var passed = long.MaxValue;
        foreach (var cursor in _cursors)
        {
            var index = FirstNeededIndex(cursor);
            passed = Math.Min(passed, index < _segments.Count ? _segments[index].Sequence : cursor.At.Sequence);
        }
        var count = 0;
        while (count < _segments.Count && _segments[count].Sequence < passed)
        {
            count++;
        }
        var freed = _segments.GetRange(0, count);
        _segments.RemoveRange(0, count);
        Release(freed.Sum(s => s.Bytes));
        return freed;
    }

    /// <summary>
    /// Index of the first kept segment the sink still needs, moving its position past segments it does not take
    /// (and onto the next kept one when its own is gone). Count when there is none. The caller holds the lock.
    /// </summary>
    private int FirstNeededIndex(SpoolCursor cursor)
    {
        var index = FirstAtOrAfter(cursor.At.Sequence);
        while (index < _segments.Count && !cursor.Takes(_segments[index].Stream))
        {
            index++;
        }
        if (index < _segments.Count && _segments[index].Sequence != cursor.At.Sequence)
        {
            cursor.At = new SpoolPosition(_segments[index].Sequence, 0);
        }
        else if (index == _segments.Count && _segments.Count > 0 && _segments[^1].Sequence >= cursor.At.Sequence)
        {
            cursor.At = new SpoolPosition(_segments[^1].Sequence + 1, 0);
        }
        return index;
    }

    private IEnumerable<SealedSegment> Remaining(SpoolCursor cursor)
    {
        for (var index = FirstNeededIndex(cursor); index < _segments.Count; index++)
        {
            if (cursor.Takes(_segments[index].Stream))
            {
                yield return _segments[index];
            }
        }
    }

    private int FirstAtOrAfter(long sequence)
    {
        int low = 0, high = _segments.Count;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (_segments[middle].Sequence < sequence)
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
