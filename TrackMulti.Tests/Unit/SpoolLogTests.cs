using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// The spool's log on its own, no host: reservations racing a close and the limits (its producer face); cursors per
/// sink, their order, their progress across restarts, freeing (its consumer face).
/// </summary>
public sealed class SpoolLogTests : IAsyncLifetime
{
    private readonly string _root = TestPaths.NewTemporaryDirectory("spool-log");
    private readonly IMeterFactory _meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
    private SpoolLog? _log;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_log is not null)
        {
            await _log.StopAsync(CancellationToken.None);
        }
        Directory.Delete(_root, recursive: true);
    }

    private SpoolLog NewLog(long maxBytes = 1 << 20) => _log = new SpoolLog(
        Options.Create(new SpoolOptions { MaxBytes = maxBytes }), new SpoolDirectory(_root), TimeProvider.System,
        new TrackMetrics(_meters), NullLogger<SpoolLog>.Instance);

    private async Task RestartAsync() => await _log!.StopAsync(CancellationToken.None);

    private string[] SealedFiles() => Directory.GetFiles(Path.Combine(_root, "sealed"));

    /// <summary>The sealed files once <paramref name="expected"/> are left: the log deletes what every sink passed on a
    /// thread of its own, soon after the acknowledgement.</summary>
    private async Task<string[]> SealedFilesOnceDeletedDownToAsync(int expected)
    {
        await Poll.UntilAsync(() => SealedFiles().Length == expected);
        return SealedFiles();
    }

    [Fact]
    public async Task Appends_from_many_threads_take_ranges_that_never_overlap_none_after_the_close_and_the_seal_holds_every_one()
    {
        var log = NewLog(maxBytes: 1L << 30);
        var s3 = log.Subscribe("s3", _ => true);
        await log.StartAsync(CancellationToken.None);
        var segment = log.Open(new SegmentId(log.NextSequence(), "events/race.ndjson", "track"), new SegmentLimits(1_000_000, 1L << 30));
        var taken = new System.Collections.Concurrent.ConcurrentBag<string>();
        var refused = 0;
        using var start = new Barrier(8);

        var threads = Enumerable.Range(0, 8).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var n = 0; n < 2000; n++)
            {
                if (t == 0 && n == 1000)
                {
                    Assert.True(segment.Close());
                }
                byte[][] lines = [Encoding.UTF8.GetBytes($"{{\"t\":{t},\"n\":{n},\"pad\":\"{new string('x', n % 50)}\"}}")];
                var bytes = lines[0].Length + 1L;
                var reservation = segment.Reserve(1, bytes);
                if (!reservation.IsTaken)
                {
                    Assert.Equal(ReserveOutcome.Closed, reservation.Outcome);
                    Interlocked.Increment(ref refused);
                    continue;
                }
                segment.Write(lines, reservation, bytes);
                taken.Add(Encoding.UTF8.GetString(lines[0]));
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(threads);

        var result = await log.SealAsync(segment);
        Assert.True(result.Durable);
        var sealedSegment = Assert.IsType<SealedSegment>(result.Sealed);
        var stored = Lines(s3, sealedSegment);
        Assert.Equal(taken.Order(StringComparer.Ordinal), stored.Order(StringComparer.Ordinal)); // each line whole, once
        Assert.Equal(taken.Count, sealedSegment.Events);
        Assert.True(refused >= 1000); // thread 0's own appends after its close, at least
        Assert.Equal(ReserveOutcome.Closed, segment.Reserve(1, 10).Outcome);
    }

    [Fact]
    public async Task The_append_that_reaches_the_event_limit_closes_the_segment_and_one_that_would_pass_a_limit_is_refused()
    {
        var log = NewLog();
        await log.StartAsync(CancellationToken.None);
        var segment = log.Open(new SegmentId(log.NextSequence(), "events/limits.ndjson", "track"), new SegmentLimits(3, 100));

        Assert.Equal(new Reservation(ReserveOutcome.Taken, 0, 1), segment.Reserve(1, 10));
        Assert.Equal(ReserveOutcome.DoesNotFit, segment.Reserve(1, 91).Outcome); // bytes
        Assert.Equal(ReserveOutcome.DoesNotFit, segment.Reserve(3, 10).Outcome); // events
        Assert.Equal(new Reservation(ReserveOutcome.TakenAndFull, 10, 3), segment.Reserve(2, 20));
        Assert.True(segment.IsClosed);
        Assert.False(segment.Close()); // closed by the filling append, which seals it
        var big = log.Open(new SegmentId(log.NextSequence(), "events/big.ndjson", "track"), new SegmentLimits(3, 100));
        Assert.Equal(ReserveOutcome.TakenAndFull, big.Reserve(5, 500).Outcome); // larger than the limits alone: a segment of its own
    }

    [Fact]
    public async Task Each_sink_gets_the_sealed_segments_in_order_and_a_segment_is_freed_only_once_every_sink_acknowledged_it()
    {
        var log = NewLog();
        var s3 = log.Subscribe("s3", _ => true);
        var fme = log.Subscribe("fme", _ => true);
        await log.StartAsync(CancellationToken.None);
        var first = await SealAsync(log, "track", 2);
        var second = await SealAsync(log, "track", 3);

        Assert.Equal(first, await NextAsync(s3));
        Assert.Equal(first, await NextAsync(s3)); // until acknowledged, the same one
        Assert.True(s3.Acknowledge(first, first.Events));
        Assert.Equal(second, await NextAsync(s3));
        Assert.Equal(2, SealedFiles().Length); // fme has not acknowledged the first

        Assert.Equal(first, await NextAsync(fme));
        Assert.True(fme.Acknowledge(first, first.Events));
        Assert.Single(await SealedFilesOnceDeletedDownToAsync(1));
        Assert.Equal(new SpoolBacklog(1, 3, second.Bytes, second.SealedAt), fme.Backlog);
        Assert.Equal(second.Bytes, log.UsedBytes);
    }

    [Fact]
    public async Task Each_sinks_progress_survives_a_restart_down_to_the_event()
    {
        var log = NewLog();
        var s3 = log.Subscribe("s3", _ => true);
        var fme = log.Subscribe("fme", _ => true);
        await log.StartAsync(CancellationToken.None);
        var first = await SealAsync(log, "track", 3);
        var second = await SealAsync(log, "track", 1);
        s3.Acknowledge(first, 3);
        fme.Acknowledge(first, 2);
        await RestartAsync();

        log = NewLog();
        s3 = log.Subscribe("s3", _ => true);
        fme = log.Subscribe("fme", _ => true);
        await log.StartAsync(CancellationToken.None);

        Assert.Equal(second.Sequence, (await NextAsync(s3)).Sequence);
        var resumed = await NextAsync(fme);
        Assert.Equal((first.Sequence, first.Key, first.Events), (resumed.Sequence, resumed.Key, resumed.Events));
        Assert.Equal(2, fme.EventsDone(resumed));
        Assert.Equal(2, SealedFiles().Length);
        Assert.Equal(4, Lines(fme, resumed).Length + Lines(fme, second).Length);
    }

    [Fact]
    public async Task A_sink_passes_over_streams_it_does_not_take_and_never_holds_them()
    {
        var log = NewLog();
        var s3 = log.Subscribe("s3", _ => true);
        var fme = log.Subscribe("fme", stream => stream == "sdk");
        await log.StartAsync(CancellationToken.None);
        var tracked = await SealAsync(log, "track", 2);
        var fromSdk = await SealAsync(log, "sdk", 1);

        Assert.Equal(fromSdk, await NextAsync(fme));
        Assert.Equal(new SpoolBacklog(1, 1, fromSdk.Bytes, fromSdk.SealedAt), fme.Backlog);
        s3.Acknowledge(tracked, tracked.Events);

        Assert.Single(await SealedFilesOnceDeletedDownToAsync(1)); // the tracked segment went with S3's acknowledgement alone
    }

    [Fact]
    public async Task A_bounded_sink_drops_its_oldest_segments_past_its_bound_and_the_other_sink_keeps_them()
    {
        var log = NewLog();
        var s3 = log.Subscribe("s3", _ => true);
        var drops = new List<SpoolDrop>();
        var fme = log.Subscribe("fme", _ => true, maxBacklogBytes: 1500, onDropped: drops.Add);
        await log.StartAsync(CancellationToken.None);

        var segments = new List<SealedSegment>();
        for (var i = 0; i < 4; i++)
        {
            segments.Add(await SealAsync(log, "track", 10)); // about 700 bytes each
        }

        Assert.True(fme.Backlog.Bytes <= 1500, $"{fme.Backlog.Bytes} bytes wait for fme");
        Assert.Equal(segments.Take(2).Select(s => s.Key), drops.Select(d => d.Segment.Key));
        Assert.Equal(segments[2], await NextAsync(fme));
        Assert.Equal(segments[0], await NextAsync(s3));
        Assert.Equal(4, SealedFiles().Length); // S3 has not delivered them: nothing is freed
        Assert.False(fme.Acknowledge(segments[0], 10)); // what was dropped cannot be acknowledged any more
    }

    [Fact]
    public async Task A_sink_enabled_on_a_spool_in_use_starts_with_the_segments_sealed_from_then_on()
    {
        var log = NewLog();
        log.Subscribe("s3", _ => true);
        await log.StartAsync(CancellationToken.None);
        var before = await SealAsync(log, "track", 1);
        await RestartAsync();

        log = NewLog();
        var s3 = log.Subscribe("s3", _ => true);
        var fme = log.Subscribe("fme", _ => true);
        await log.StartAsync(CancellationToken.None);
        var after = await SealAsync(log, "track", 1);

        Assert.Equal(before.Sequence, (await NextAsync(s3)).Sequence);
        Assert.Equal(after, await NextAsync(fme));
        Assert.Equal(1, fme.Backlog.Segments);
    }

    [Fact]
    public async Task A_sink_no_longer_enabled_holds_nothing_back_after_a_restart()
    {
        var log = NewLog();
        log.Subscribe("s3", _ => true);
        log.Subscribe("fme", _ => true);
        await log.StartAsync(CancellationToken.None);
        var segment = await SealAsync(log, "track", 1);
        await RestartAsync();

        log = NewLog();
        var s3 = log.Subscribe("s3", _ => true);
        await log.StartAsync(CancellationToken.None);
        s3.Acknowledge(await NextAsync(s3), segment.Events);

        Assert.Empty(await SealedFilesOnceDeletedDownToAsync(0));
        Assert.False(File.Exists(Path.Combine(_root, "cursors", "fme")));
    }

    [Fact]
    public void A_cursor_overwritten_in_place_reads_back_as_its_last_position_whatever_record_was_there()
    {
        using var directory = new SpoolDirectory(_root);
        File.WriteAllText(Path.Combine(directory.CursorDirectory, "s3"), "9223372036854775807 2147483647\n"); // the longest older record

        directory.WriteCursor("s3", new SpoolPosition(5, 1));
        directory.WriteCursor("s3", new SpoolPosition(6, 0));

        Assert.Equal(new SpoolPosition(6, 0), directory.Recover(NullLogger.Instance).Cursors["s3"]);
    }

    private static async Task<SealedSegment> NextAsync(SpoolCursor cursor)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        return await cursor.NextAsync(timeout.Token);
    }

    private static string[] Lines(SpoolCursor cursor, SealedSegment segment)
    {
        using var reader = new StreamReader(cursor.OpenRead(segment));
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Writes <paramref name="events"/> lines through the producer face and seals them as one segment.</summary>
    private static async Task<SealedSegment> SealAsync(SpoolLog log, string stream, int events)
    {
        var sequence = log.NextSequence();
        var id = new SegmentId(sequence, $"events/test-{sequence:D6}.ndjson", stream);
        var lines = Enumerable.Range(0, events).Select(n => Encoding.UTF8.GetBytes($"{{\"name\":\"e{sequence}-{n}\",\"padding\":\"{new string('x', 40)}\"}}")).ToArray();
        var bytes = lines.Sum(line => line.Length + 1L);
        Assert.True(log.TryReserve(bytes));
        var segment = log.Open(id, new SegmentLimits(int.MaxValue, long.MaxValue));
        var reservation = segment.Reserve(events, bytes);
        segment.Write(lines, reservation, bytes);
        await log.Written(segment);
        Assert.True(segment.Close());
        var result = await log.SealAsync(segment).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(result.Durable);
        return Assert.IsType<SealedSegment>(result.Sealed);
    }

}
