using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.S3;

namespace TrackMulti.Tests.Unit;

public sealed class AthenaTablesTests
{
    /// <summary>A field added to a row model without its column would be invisible to Athena.</summary>
    [Theory]
    [InlineData(Streams.Track, typeof(TrackEvent))]
    [InlineData(Streams.Impressions, typeof(Impression))]
    [InlineData(Streams.ImpressionCounts, typeof(ImpressionCount))]
    public void Each_tables_columns_are_its_rows_fields_in_their_written_order(string stream, Type row)
    {
        var ignored = row.GetProperties()
            .Where(p => p.IsDefined(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), false))
            .Select(p => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Name))
            .ToHashSet();
        var written = RowJsonContext.Default.GetTypeInfo(row)!.Properties
            .Where(p => !p.IsExtensionData && !ignored.Contains(p.Name))
            .OrderBy(p => p.Order)
            .Select(p => p.Name);

        Assert.Equal(written, AthenaTables.Tables.Single(t => t.Stream == stream).Columns.Select(c => c.Name));
    }
}
