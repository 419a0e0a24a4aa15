namespace TrackMulti.Api.Spool;

/// <summary>
/// One sink's place in the log: which sealed segment it gets next and how much of it is done. The sink reads a
/// segment's lines through <see cref="OpenRead"/> and acknowledges what it delivered, a whole segment or a part (the
/// cursor is kept on disk, so after a crash the sink goes on from its last acknowledgement). A handle: the log keeps
/// the index of segments and moves the position, under its own lock (<c>SpoolLog.Cursors.cs</c>).
/// </summary>
public sealed class SpoolCursor
{
    private readonly SpoolLog _log;
    private readonly SpoolDirectory _directory;
    private readonly Lock _persistLock = new();

    internal SpoolCursor(SpoolLog log, SpoolDirectory directory, string sink, Func<string, bool> takes, long? maxBacklogBytes, Action<SpoolDrop>? onDropped)
    {
        _log = log;
        _directory = directory;
        Sink = sink;
        Takes = takes;
        MaxBacklogBytes = maxBacklogBytes;
        OnDropped = onDropped;
    }

    public string Sink { get; }

    internal Func<string, bool> Takes { get; }

    internal long? MaxBacklogBytes { get; }

    internal Action<SpoolDrop>? OnDropped { get; }

    // Where the sink stands and what waits for it: read and written by the log, under its lock.
    internal SpoolPosition At;
    internal int BacklogSegments;
    internal long BacklogEvents;
    internal long BacklogBytes;

    public SpoolPosition Position => _log.PositionOf(this);

    /// <summary>What waits for this sink: sealed segments it takes and has not fully acknowledged.</summary>
    public SpoolBacklog Backlog => _log.BacklogOf(this);

    /// <summary>The segments of <see cref="Backlog"/>, oldest first.</summary>
    public IReadOnlyList<SealedSegment> Pending() => _log.PendingFor(this);

    /// <summary>The next segment to deliver, once there is one. How much of it is done: <see cref="EventsDone"/>.</summary>
    public Task<SealedSegment> NextAsync(CancellationToken cancellationToken) => _log.NextAsync(this, after: null, cancellationToken);

    /// <summary>
    /// The first segment still to deliver that comes after <paramref name="after"/> (one being delivered already),
    /// once there is one: a sink with several deliveries in flight takes them in order.
    /// </summary>
    public Task<SealedSegment> NextAsync(SealedSegment? after, CancellationToken cancellationToken) => _log.NextAsync(this, after, cancellationToken);

    /// <summary>Events of <paramref name="segment"/> this sink acknowledged already (all of them once it is passed).</summary>
    public int EventsDone(SealedSegment segment)
    {
        var position = Position;
        return position.Sequence > segment.Sequence ? segment.Events
            : position.Sequence == segment.Sequence ? position.Events
            : 0;
    }

    /// <summary>The segment's lines, from the first. Each call opens it anew (for a retry).</summary>
    public Stream OpenRead(SealedSegment segment) =>
        new FileStream(_directory.SealedPath(segment), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, useAsync: true);

    /// <summary>
    /// The sink delivered the first <paramref name="eventsDone"/> events of <paramref name="segment"/> (all of them:
    /// the segment is done). False when the cursor had passed them already (a bounded sink's segment was dropped).
    /// </summary>
    public bool Acknowledge(SealedSegment segment, int eventsDone)
    {
        if (!_log.Acknowledge(this, segment, eventsDone))
        {
            return false;
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
}

/// <param name="Segments">Sealed segments not fully delivered.</param>
/// <param name="Events">Events in them not yet delivered.</param>
/// <param name="Bytes">Their size on disk.</param>
/// <param name="OldestSealedAt">When the oldest of them was sealed.</param>
public sealed record SpoolBacklog(int Segments, long Events, long Bytes, DateTimeOffset? OldestSealedAt);
