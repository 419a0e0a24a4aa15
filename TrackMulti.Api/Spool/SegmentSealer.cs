using System.Threading.Channels;

namespace TrackMulti.Api.Spool;

/// <summary>
/// Seals segments the writer has finished writing, on a thread of its own and in the order it is given them, so the
/// writer goes on appending to the next segments while a seal waits for the disk (its sync, rename and folder sync).
/// The log's places are given here, so the log is in the order of seals; another folder's segments are taken in
/// here too, for the same reason. A seal's waiters are told before the waiters of its last lines.
/// </summary>
internal sealed class SegmentSealer
{
    private readonly Channel<SealWork> _work = Channel.CreateUnbounded<SealWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SpoolDirectory _directory;
    private readonly SpoolLog _log;
    private readonly SpoolWriter _writer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private Task _run = Task.CompletedTask;

    public SegmentSealer(SpoolDirectory directory, SpoolLog log, SpoolWriter writer, TimeProvider time, ILogger logger)
    {
        _directory = directory;
        _log = log;
        _writer = writer;
        _time = time;
        _logger = logger;
    }

    public Task Completion => _run;

    /// <summary>Seals <paramref name="segment"/> (null: nothing to seal, only the seal's waiter to answer in turn).</summary>
    /// <param name="waiters">Waiters of the segment's lines not yet durable: the seal's sync makes them so.</param>
    public void Post(OpenSegment? segment, SpoolSeal seal, List<IAppendWaiter> waiters) =>
        _work.Writer.TryWrite(new SealJob(segment, seal, waiters));

    public void Post(SpoolAdoption adoption) => _work.Writer.TryWrite(new AdoptionJob(adoption));

    public void Complete() => _work.Writer.TryComplete();

    // It blocks on the disk by design, so it gets a thread of its own instead of borrowing a thread-pool thread.
    public void Start() =>
        _run = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run()
    {
        while (WaitForWork())
        {
            while (_work.Reader.TryRead(out var work))
            {
                switch (work)
                {
                    case SealJob job:
                        Seal(job);
                        break;
                    case AdoptionJob job:
                        Adopt(job.Adoption);
                        break;
                }
            }
        }
    }

    private bool WaitForWork()
    {
        var ready = _work.Reader.WaitToReadAsync();
        return ready.IsCompletedSuccessfully ? ready.Result : ready.AsTask().GetAwaiter().GetResult();
    }

    private void Seal(SealJob job)
    {
        var (segment, seal, waiters) = job;
        SealedSegment? sealedSegment = null;
        var durable = false;
        if (segment is not null)
        {
            try
            {
                // One sync makes the last lines durable and fixes the file's final size; after it the file is final.
                segment.Finish();
                durable = true;
                _writer.OnSealed(segment.Events);
            }
            catch (Exception ex)
            {
                // After a failed sync the page cache cannot be trusted: refuse, and stop until a restart recovers.
                _writer.SetFault($"Syncing {segment.Id.Key} failed: {ex.Message}");
                _logger.LogCritical(ex, "{Fault}", _writer.Fault);
                segment.Dispose(); // closed now, so recovery can open it; it stays in open/
            }
        }
        if (durable)
        {
            sealedSegment = Move(segment!, seal);
        }

        if (seal.Waiter is { } sealWaiter)
        {
            if (_writer.Fault is { } fault && sealedSegment is null)
            {
                sealWaiter.OnRefused(new SpoolWriteException(fault));
            }
            else
            {
                sealWaiter.OnSealed(sealedSegment);
            }
        }
        foreach (var waiter in waiters)
        {
            if (durable)
            {
                waiter.OnDurable();
            }
            else
            {
                waiter.OnRefused(new SpoolWriteException(_writer.Fault!));
            }
        }
    }

    /// <summary>Puts the finished segment in the log at the next place; null when it held no event or could not move.</summary>
    private SealedSegment? Move(OpenSegment segment, SpoolSeal seal)
    {
        try
        {
            if (segment.Events == 0)
            {
                segment.Delete();
                return null;
            }
            // Its place in the log: after every segment sealed before it, whichever stream.
            var sequence = _log.NextSequence();
            var sealedBytes = segment.MoveToSealed(_directory, sequence);
            _log.Release(segment.Bytes - sealedBytes); // compressed: the bound counts what the disk holds
            var sealedSegment = new SealedSegment(sequence, segment.Id.Key, segment.Id.Stream, segment.Events, sealedBytes, _time.GetUtcNow())
            {
                Origins = seal.Origins,
            };
            _log.Add(sealedSegment);
            _logger.LogInformation("Sealed batch {Key} with {Events} events", sealedSegment.Key, sealedSegment.Events);
            return sealedSegment;
        }
        catch (Exception ex)
        {
            // The events are durable in open/; recovery on the next start seals them under the same key.
            _writer.SetFault($"The spool could not seal {segment.Id.Key}: {ex.Message}");
            _logger.LogCritical(ex, "{Fault}", _writer.Fault);
            return null;
        }
    }

    private void Adopt(SpoolAdoption adoption)
    {
        try
        {
            foreach (var segment in adoption.Segments)
            {
                var sequence = _log.NextSequence();
                _directory.ReserveSequence(sequence);
                File.Move(adoption.From.SealedPath(segment), _directory.SealedPath(sequence, segment.Stream, segment.Key));
                DirectorySync.Flush(_directory.SealedDirectory);
                _log.AddAdopted(segment with { Sequence = sequence, SealedAt = _time.GetUtcNow() });
            }
            adoption.Done.TrySetResult();
        }
        catch (Exception ex)
        {
            // What moved is in this log; the rest stays in the other folder for the next attempt.
            adoption.Done.TrySetException(ex);
        }
    }
}

/// <summary>What the sealer is given, in order.</summary>
internal abstract record SealWork;

internal sealed record SealJob(OpenSegment? Segment, SpoolSeal Seal, List<IAppendWaiter> Waiters) : SealWork;

internal sealed record AdoptionJob(SpoolAdoption Adoption) : SealWork;
