using System.Text.RegularExpressions;
using TrackMulti.Api.Model;

namespace TrackMulti.Tests.Unit;

public sealed class BatchKeyTests
{
    private static readonly DateTimeOffset SealedAt = new(2025, 10, 24, 10, 30, 15, 123, TimeSpan.Zero);

    [Fact]
    public void A_key_starts_with_the_seeds_events_batch_time_form()
    {
        var key = BatchKey.For(Streams.Track, SealedAt, "3f9c2a1b", 42);

        Assert.Equal("events/batch-2025-10-24T10-30-15-123Z-3f9c2a1b-000042.ndjson", key);
        Assert.Matches(new Regex(@"^events/batch-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z"), key);
    }

    [Theory]
    [InlineData(Streams.Track, "events/")]
    [InlineData(Streams.SdkEvents, "events/")]
    [InlineData(Streams.Impressions, "impressions/")]
    [InlineData(Streams.ImpressionCounts, "impression-counts/")]
    public void Each_stream_lands_under_its_prefix_in_the_same_key_form(string stream, string prefix)
    {
        Assert.Equal($"{prefix}batch-2025-10-24T10-30-15-123Z-3f9c2a1b-000042.ndjson", BatchKey.For(stream, SealedAt, "3f9c2a1b", 42));
    }

    [Theory]
    [InlineData(Partitioning.None, Compression.None, "events/batch-2025-10-24T10-30-15-123Z-a-000007.ndjson")]
    [InlineData(Partitioning.Daily, Compression.None, "events/dt=2025-10-24/batch-2025-10-24T10-30-15-123Z-a-000007.ndjson")]
    [InlineData(Partitioning.Hourly, Compression.Gzip, "events/dt=2025-10-24/hour=10/batch-2025-10-24T10-30-15-123Z-a-000007.ndjson.gz")]
    public void The_layout_puts_a_key_in_its_receivedAt_partition_with_its_encodings_extension(Partitioning partitioning, Compression compression, string expected)
    {
        var layout = new ObjectLayout { Partitioning = partitioning, Compression = compression };
        // Any offset: partitions are by UTC.
        Assert.Equal(expected, BatchKey.For(Streams.Track, SealedAt.ToOffset(TimeSpan.FromHours(-7)), "a", 7, layout));
        Assert.Equal(compression == Compression.Gzip, ObjectLayout.IsGzip(expected));
    }

    [Fact]
    public void Two_batches_sealed_in_the_same_millisecond_get_different_keys()
    {
        Assert.NotEqual(BatchKey.For(Streams.Track, SealedAt, "a", 1), BatchKey.For(Streams.Track, SealedAt, "a", 2));
        Assert.NotEqual(BatchKey.For(Streams.Track, SealedAt, "a", 1), BatchKey.For(Streams.Track, SealedAt, "b", 1));
    }

    [Fact]
    public void Keys_of_one_instance_sort_in_sealing_order()
    {
        var keys = Enumerable.Range(1, 120).Select(i => BatchKey.For(Streams.Track, SealedAt, "a", i)).ToList();

        Assert.Equal(keys, keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EarliestAt_sorts_before_every_key_from_that_time_on_and_after_every_earlier_one()
    {
        var bound = BatchKey.EarliestAt(SealedAt);

        Assert.True(string.CompareOrdinal(bound, BatchKey.For(Streams.Track, SealedAt, "0", 1)) < 0);
        Assert.True(string.CompareOrdinal(bound, BatchKey.For(Streams.Track, SealedAt.AddMilliseconds(1), "a", 1)) < 0);
        Assert.True(string.CompareOrdinal(bound, BatchKey.For(Streams.Track, SealedAt.AddMilliseconds(-1), "zzzz", 999999)) > 0);
    }

    [Fact]
    public void Non_UTC_times_are_written_in_UTC()
    {
        var local = new DateTimeOffset(2025, 10, 24, 12, 30, 15, 123, TimeSpan.FromHours(2));

        Assert.Equal(BatchKey.For(Streams.Track, SealedAt, "a", 1), BatchKey.For(Streams.Track, local, "a", 1));
    }

    [Fact]
    public void Generated_instance_ids_are_valid_and_differ()
    {
        var ids = Enumerable.Range(0, 50).Select(_ => BatchKey.NewInstanceId()).ToHashSet();

        Assert.Equal(50, ids.Count);
        Assert.All(ids, id => Assert.True(BatchKey.IsValidInstanceId(id)));
        Assert.False(BatchKey.IsValidInstanceId("Has Space"));
        Assert.False(BatchKey.IsValidInstanceId("../x"));
        Assert.False(BatchKey.IsValidInstanceId("abc\n"));
    }
}
