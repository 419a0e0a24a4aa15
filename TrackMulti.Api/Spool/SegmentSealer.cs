using System.Diagnostics;
using System.Threading.Channels;

namespace TrackMulti.Api.Spool;

/// <summary>
/// Seals closed segments, for every stream, on a thread of its own and in the order it is given them: waits for the
/// copies under way, cuts what is left of the preallocation, syncs, and renames the file into <c>sealed/</c> at the segment's place in the log,
/// which it gives here, so the log is in the order of seals. Another folder's segments are taken in here too, for the
/// same reason; and, between seals, it makes the files the next segments will take. Appends go on meanwhile.
/// </summary>
internal sealed class SegmentSealer
{
    private readonly Channel<SealWork> _work = Channel.CreateUnbounded<SealWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SpoolDirectory _directory;
    private readonly SpoolLog _log;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private Task _run = Task.CompletedTask;

    public SegmentSealer(SpoolDirectory directory, SpoolLog log, TimeProvider time, ILogger logger)
    {
        _directory = directory;
        _log = log;
        _time = time;
        _logger = logger;
    }

    public Task Completion => _run;

    /// <summary>Seals the closed <paramref name="segment"/> after every seal asked for before; null: only waits for those.</summary>
    public Task<SealResult> Post(OpenSegment? segment)
    {
        var job = new SealJob(segment);
        return _work.Writer.TryWrite(job) ? job.Done.Task : Task.FromResult(new SealResult(false, null));
    }

    public Task Adopt(SpoolDirectory from, IReadOnlyList<SealedSegment> segments)
    {
        var job = new AdoptionJob(from, segments);
        return _work.Writer.TryWrite(job) ? job.Done.Task : Task.FromException(new InvalidOperationException("The spool is closing."));
    }

    /// <summary>Readies the stream's next segment between seals (<see cref="SpoolLog.PrepareNextSegment"/>).</summary>
    public void PrepareNextSegment(string stream) => _work.Writer.TryWrite(new NextSegmentJob(stream));

    public void Complete() => _work.Writer.TryComplete();

    // It blocks on the disk by design, so it gets a thread of its own instead of borrowing a thread-pool thread.
    public void Start() =>
        _run = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run()
    {
        var reader = _work.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var work))
            {
                switch (work)
                {
                    case SealJob job:
                        job.Done.TrySetResult(job.Segment is null ? new SealResult(_log.Fault is null, null) : Seal(job.Segment));
                        break;
                    case AdoptionJob job:
                        Adopt(job);
                        break;
                    case NextSegmentJob job:
                        _log.PrepareNextSegment(job.Stream);
                        break;
                }
            }
        }
    }

    private SealResult Seal(OpenSegment segment)
    {
        Debug.Assert(segment.IsClosed);
        segment.WaitForCopies();
        var origins = segment.Origins;
        int events;
        long bytes;
        try
        {
            if (segment.HasFailedCopies)
            {
                segment.Dispose();
                (events, bytes, _) = SegmentLines.KeepComplete(segment.Path);
            }
            else
            {
                // One sync makes the last lines durable and fixes the file's final size; after it the file is final.
                segment.Finish();
                segment.Dispose();
                (events, bytes) = (segment.Events, segment.Bytes);
            }
        }
        catch (Exception ex)
        {
            // After a failed sync the page cache cannot be trusted: refuse, and stop until a restart recovers.
            segment.Dispose(); // closed now, so recovery can open it; it stays in open/
            _log.SetFault($"Syncing {segment.Id.Key} failed: {ex.Message}", ex);
            _log.OnSealed(segment);
            return new SealResult(false, null);
        }
        _log.Release(segment.Bytes - bytes); // the ranges of failed copies were never stored
        _log.OnSealed(segment);
        return new SealResult(true, Move(segment, events, bytes, origins));
    }

    /// <summary>Puts the finished segment in the log at the next place; null when it held no event or could not move.</summary>
    private SealedSegment? Move(OpenSegment segment, int events, long bytes, IReadOnlyList<ActivityContext> origins)
    {
        try
        {
            if (events == 0)
            {
                File.Delete(segment.Path);
                return null;
            }
            // Its place in the log: after every segment sealed before it, whichever stream.
            var sequence = _log.NextSequence();
            _directory.ReserveSequence(sequence); // a restart must never hand out a place before it again
            _directory.MoveToSealed(segment.Path, sequence, segment.Id.Stream, segment.Id.Key);
            var sealedSegment = new SealedSegment(sequence, segment.Id.Key, segment.Id.Stream, events, bytes, _time.GetUtcNow())
            {
                Origins = origins,
            };
            _log.Add(sealedSegment);
            _logger.LogInformation("Sealed batch {Key} with {Events} events", sealedSegment.Key, sealedSegment.Events);
            return sealedSegment;
        }
        catch (Exception ex)
        {
            // The events are durable in open/; recovery on the next start seals them under the same key.
            _log.SetFault($"The spool could not seal {segment.Id.Key}: {ex.Message}", ex);
            return null;
        }
    }

    private void Adopt(AdoptionJob job)
    {
        try
        {
            foreach (var segment in job.Segments)
            {
                var sequence = _log.NextSequence();
                _directory.ReserveSequence(sequence);
                File.Move(job.From.SealedPath(segment), _directory.SealedPath(sequence, segment.Stream, segment.Key));
                DirectorySync.Flush(_directory.SealedDirectory);
                _log.AddAdopted(segment with { Sequence = sequence, SealedAt = _time.GetUtcNow() });
            }
            job.Done.TrySetResult();
        }
        catch (Exception ex)
        {
            // What moved is in this log; the rest stays in the other folder for the next attempt.
            job.Done.TrySetException(ex);
        }
    }

    private abstract record SealWork;

    private sealed record SealJob(OpenSegment? Segment) : SealWork
    {
        public TaskCompletionSource<SealResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed record NextSegmentJob(string Stream) : SealWork;

    private sealed record AdoptionJob(SpoolDirectory From, IReadOnlyList<SealedSegment> Segments) : SealWork
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <param name="Durable">The segment's lines are on disk (its sync succeeded): every append into it may be answered.</param>
/// <param name="Sealed">The segment in the log; null when it held no event, or when the move into the log failed.</param>
public sealed record SealResult(bool Durable, SealedSegment? Sealed);
