using System.Text;
using Microsoft.Extensions.Time.Testing;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>
/// Batching through the Api's own composition (see <see cref="BatchingHost"/>): the count, byte, age and hour
/// triggers, each stream's batches, concurrent appends, a stop. (The S3 sink's uploads: <see cref="S3SinkTests"/>.)
/// </summary>
public sealed class BatchingTests : IAsyncLifetime
{
    private readonly BatchingHost _host = new();

    public async Task InitializeAsync() => await _host.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Each_stream_batches_on_its_own_and_a_batch_sealed_after_one_opened_later_is_still_delivered()
    {
        var events = _host.Batches.For(Streams.SdkEvents);
        var impressions = _host.Batches.For(Streams.Impressions);
        await events.AppendAsync([BatchingHost.Event(1).ToJsonLine()], CancellationToken.None);       // opens first
        var filled = await impressions.AppendAsync(
            [.. Enumerable.Range(2, 3).Select(n => BatchingHost.Event(n).ToJsonLine())], CancellationToken.None); // BATCH_SIZE: sealed
        var flushed = await events.SealAsync(CancellationToken.None);                                  // sealed last

        Assert.StartsWith("impressions/", filled.Sealed!.Key);
        Assert.StartsWith("events/", flushed!.Key);
        Assert.Equal(1, flushed.Events);
        Assert.True(filled.Sealed.Sequence < flushed.Sequence); // the log is in the order of seals
        Assert.Equal(0, _host.Writer.OpenEventCount);          // the track stream's batch is untouched
        Assert.True((await _host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(
            Encoding.UTF8.GetString(BatchingHost.Event(1).ToJsonLine()) + "\n",
            Encoding.UTF8.GetString(_host.Store.Objects[flushed.Key]));
        Assert.Equal(3, Encoding.UTF8.GetString(_host.Store.Objects[filled.Sealed.Key]).Count(c => c == '\n'));
    }

    [Fact]
    public async Task A_batch_that_would_span_an_hour_boundary_becomes_two_objects_each_in_its_hour()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2025, 10, 24, 10, 59, 59, 500, TimeSpan.Zero));
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "100", ["S3_PARTITIONING"] = "hourly" }, time).StartAsync();

        await host.AppendAsync(2);
        time.Advance(TimeSpan.FromSeconds(1)); // 11:00:00.500
        var crossed = await host.AppendAsync(1, first: 3);
        var last = await host.Writer.SealAsync(CancellationToken.None);

        var first = Assert.Single(crossed[0].Seals); // the event of hour 11 sealed hour 10's batch first
        Assert.StartsWith("events/dt=2025-10-24/hour=10/batch-2025-10-24T10-59-59-500Z-", first.Key);
        Assert.Equal(2, first.Events);
        Assert.StartsWith("events/dt=2025-10-24/hour=11/batch-2025-10-24T11-00-00-500Z-", last!.Key);
        Assert.Equal(1, last.Events);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(2, host.Store.Objects.Count);
    }

    [Fact]
    public async Task The_event_that_fills_a_batch_seals_it_under_a_new_key()
    {
        var results = await _host.AppendAsync(7);

        Assert.Equal([1, 2, 0, 1, 2, 0, 1], results.Select(r => r.OpenEventCount));
        var sealedBatches = results.Where(r => r.Sealed is not null).Select(r => r.Sealed!).ToList();
        Assert.Equal(2, sealedBatches.Count);
        Assert.All(sealedBatches, b => Assert.Equal(3, b.Events));
        Assert.True(sealedBatches[0].Sequence < sealedBatches[1].Sequence); // the log's order is the order of seals
        Assert.NotEqual(sealedBatches[0].Key, sealedBatches[1].Key);
        Assert.Equal(1, _host.Writer.OpenEventCount);
    }

    [Fact]
    public async Task The_bytes_trigger_seals_before_an_object_would_pass_BATCH_MAX_BYTES()
    {
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "1000", ["BATCH_MAX_BYTES"] = "2048" }).StartAsync();
        var lineBytes = BatchingHost.Event(1, padding: 300).ToJsonLine().Length + 1;

        await host.AppendAsync(20, padding: 300);
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        var perObject = 2048 / lineBytes;
        Assert.All(host.Store.Objects.Values, o => Assert.True(o.Length <= 2048, $"{o.Length} bytes"));
        Assert.Equal((int)Math.Ceiling(20.0 / perObject), host.Store.Objects.Count);
        Assert.Equal(Enumerable.Range(1, 20).Select(n => (double?)n), host.StoredValues());
    }

    [Fact]
    public async Task The_age_trigger_seals_a_quiet_batch_when_its_first_event_is_BATCH_MAX_AGE_SECONDS_old()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2025-10-24T10:30:15Z"));
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "100", ["BATCH_MAX_AGE_SECONDS"] = "60" }, time).StartAsync();

        await host.AppendAsync(1);
        time.Advance(TimeSpan.FromSeconds(30));
        await host.AppendAsync(1, first: 2);
        time.Advance(TimeSpan.FromSeconds(29));
        await Task.Delay(200); // give a wrongly early seal the chance to show
        Assert.Equal(2, host.Writer.OpenEventCount);

        time.Advance(TimeSpan.FromSeconds(1));

        await Poll.UntilAsync(() => host.Store.Objects.Count == 1);
        Assert.Equal(0, host.Writer.OpenEventCount);
        Assert.Equal([1.0, 2.0], host.StoredValues().Select(v => v!.Value));
        Assert.Contains("batch-2025-10-24T10-30-15-000Z", Assert.Single(host.Store.Objects.Keys));
    }

    [Fact]
    public async Task A_stored_batch_is_the_events_NDJSON_lines_in_arrival_order()
    {
        var sealedBatch = (await _host.AppendAsync(3))[2].Sealed!;
        Assert.True((await _host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        var expected = string.Concat(Enumerable.Range(1, 3).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        Assert.Equal(expected, Encoding.UTF8.GetString(_host.Store.Objects[sealedBatch.Key]));
        Assert.Equal(expected.Length, sealedBatch.Bytes);
    }

    [Fact]
    public async Task Sealing_with_nothing_open_seals_nothing()
    {
        Assert.Null(await _host.Writer.SealAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_appends_are_each_acknowledged_once_and_all_stored()
    {
        var appends = Enumerable.Range(1, 300).Select(n => _host.Writer.AppendAsync(BatchingHost.Event(n).ToJsonLine(), CancellationToken.None));

        var results = await Task.WhenAll(appends);
        await _host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await _host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(100, results.Count(r => r.Sealed is not null));
        Assert.Equal(Enumerable.Range(1, 300).Select(n => (double?)n), _host.StoredValues().Order());
    }

    [Fact]
    public async Task Stopping_seals_the_open_batch_and_uploads_it()
    {
        await _host.AppendAsync(2);
        var writer = _host.Writer;

        await _host.StopAsync();

        Assert.Equal([1.0, 2.0], _host.StoredValues().Select(v => v!.Value));
        await Assert.ThrowsAsync<IntakeClosedException>(() => writer.AppendAsync(BatchingHost.Event(3).ToJsonLine(), CancellationToken.None));
    }
}
